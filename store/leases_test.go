package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

// enqueueKind queues one message of kind to n recipients.
func enqueueKind(t *testing.T, s *store.Store, kind string, n int) store.Message {
	t.Helper()
	rcpts := make([]store.Recipient, n)
	for i := range rcpts {
		rcpts[i] = store.Recipient{OpenID: fmt.Sprintf("%s-openid-%d", kind, i)}
	}
	m := store.Message{Kind: kind, Source: "test"}
	if kind == store.KindText {
		m.Body = "hi"
	} else {
		m.TemplateID = "tpl"
	}
	m, err := s.EnqueueMessage(context.Background(), m, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func claimAll(t *testing.T, s *store.Store, now time.Time, lease time.Duration) []store.Delivery {
	t.Helper()
	ds, err := s.ClaimDueFor(context.Background(), now, lease, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func delivery(t *testing.T, s *store.Store, id int64) store.Delivery {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Six claims that never got an answer (the process died each time) cost
// no attempt: the first answered failure is attempt 1, not 7.
func TestClaim_OnlyAnsweredAttemptsCount(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	enqueueKind(t, s, store.KindTemplate, 1)
	for range 6 {
		if ds := claimAll(t, s, c.Now(), time.Minute); len(ds) != 1 || ds[0].Attempts != 0 {
			t.Fatalf("claim: %+v, want one delivery with 0 attempts so far", ds)
		}
		c.Advance(time.Second)
		if _, err := s.ResumeInterrupted(ctx, c.Now()); err != nil { // the restart
			t.Fatal(err)
		}
	}
	ds := claimAll(t, s, c.Now(), time.Minute)
	if len(ds) != 1 || ds[0].Attempts != 0 {
		t.Fatalf("claim after six crashes: %+v, want 0 attempts so far", ds)
	}
	if err := s.RecordResults(ctx, []store.Result{{DeliveryID: ds[0].ID, ClaimedAt: ds[0].ClaimedAt,
		State: store.StateRetrying, ErrCode: -1, NextTry: c.Now(), At: c.Now()}}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, ds[0].ID); d.Attempts != 1 || d.State != store.StateRetrying {
		t.Errorf("after one answered -1: state %s, %d attempts; want retrying, 1", d.State, d.Attempts)
	}
	// A refunded outcome (paused, given back unsent) does not count either.
	ds = claimAll(t, s, c.Now(), time.Minute)
	s.RecordResults(ctx, []store.Result{{DeliveryID: ds[0].ID, ClaimedAt: ds[0].ClaimedAt,
		State: store.StateRetrying, NextTry: c.Now(), Refund: true, At: c.Now()}})
	if d := delivery(t, s, ds[0].ID); d.Attempts != 1 {
		t.Errorf("after a refunded outcome: %d attempts, want still 1", d.Attempts)
	}
}

// Taking a delivery back from state sending follows what may have become
// of it: a text in flight is unknown; a text never started, and a template
// (which WeChat de-duplicates), go back to the queue — the template
// remembering that the attempt may have been delivered.
func TestReclaim_DependsOnKindAndWhetherInFlight(t *testing.T) {
	reclaimers := []struct {
		name string
		run  func(s *store.Store, now time.Time) (store.Swept, error)
	}{
		{"ResumeInterrupted at start", func(s *store.Store, now time.Time) (store.Swept, error) {
			return s.ResumeInterrupted(context.Background(), now)
		}},
		{"Sweep after the lease", func(s *store.Store, now time.Time) (store.Swept, error) {
			return s.Sweep(context.Background(), now.Add(2*time.Minute), nil, now.Add(3*time.Minute))
		}},
	}
	cases := []struct {
		name      string
		kind      string
		started   bool
		wantState string
		maybeSent bool
	}{
		{"text in flight", store.KindText, true, store.StateUnknown, true},
		{"text claimed, never started", store.KindText, false, store.StateRetrying, false},
		{"template claimed", store.KindTemplate, false, store.StateRetrying, true},
	}
	for _, rc := range reclaimers {
		for _, tc := range cases {
			t.Run(rc.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, c := openStore(t)
				enqueueKind(t, s, tc.kind, 1)
				claimedAt := c.Now()
				ds := claimAll(t, s, claimedAt, time.Minute)
				if tc.started {
					if err := s.StartAttempt(ctx, ds[0], c.Now()); err != nil {
						t.Fatal(err)
					}
				}
				c.Advance(5 * time.Second)
				sw, err := rc.run(s, c.Now())
				if err != nil {
					t.Fatal(err)
				}
				want := store.Swept{Requeued: 1}
				if tc.wantState == store.StateUnknown {
					want = store.Swept{Unknown: 1}
				}
				if sw != want {
					t.Errorf("swept %+v, want %+v", sw, want)
				}
				d := delivery(t, s, ds[0].ID)
				if d.State != tc.wantState {
					t.Errorf("state %s, want %s", d.State, tc.wantState)
				}
				if got := !d.MaybeSentAt.IsZero(); got != tc.maybeSent {
					t.Errorf("MaybeSentAt %v; want set: %v", d.MaybeSentAt, tc.maybeSent)
				} else if tc.maybeSent && !d.MaybeSentAt.Equal(claimedAt.Truncate(time.Millisecond)) {
					t.Errorf("MaybeSentAt %v, want the claim time %v", d.MaybeSentAt, claimedAt)
				}
				if d.Attempts != 0 {
					t.Errorf("%d attempts counted for an attempt never answered", d.Attempts)
				}
				if d.State == store.StateUnknown && d.ErrMsg == "" {
					t.Error("an unknown delivery without an explanation")
				}
				if d.State == store.StateRetrying && d.NextAttemptAt.After(c.Now().Add(2*time.Minute)) {
					t.Errorf("requeued delivery due at %v; want at once", d.NextAttemptAt)
				}
				if !d.LeaseUntil.IsZero() {
					t.Errorf("lease %v left on a delivery taken back", d.LeaseUntil)
				}
			})
		}
	}
}

// A template taken back twice remembers the earliest attempt that may have
// been delivered: WeChat's de-duplication window runs from that one.
func TestReclaim_KeepsEarliestMaybeSent(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	enqueueKind(t, s, store.KindTemplate, 1)
	first := c.Now()
	claimAll(t, s, first, time.Minute)
	s.ResumeInterrupted(ctx, c.Now())
	c.Advance(time.Minute)
	ds := claimAll(t, s, c.Now(), time.Minute)
	if len(ds) != 1 || !ds[0].MaybeSentAt.Equal(first) {
		t.Fatalf("claim: %+v; want MaybeSentAt %v returned to the claimer", ds, first)
	}
	// An ambiguous answer on the second attempt keeps the first time too.
	s.RecordResults(ctx, []store.Result{{DeliveryID: ds[0].ID, ClaimedAt: ds[0].ClaimedAt, State: store.StateRetrying,
		MaybeSent: true, NextTry: c.Now(), At: c.Now()}})
	if d := delivery(t, s, ds[0].ID); !d.MaybeSentAt.Equal(first) {
		t.Errorf("MaybeSentAt %v, want the first attempt's %v", d.MaybeSentAt, first)
	}
}

// An ambiguous answer records the claim time of its attempt.
func TestRecordResults_MaybeSentRecordsTheAttempt(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	enqueueKind(t, s, store.KindTemplate, 2)
	ds := claimAll(t, s, c.Now(), time.Minute)
	c.Advance(3 * time.Second)
	s.RecordResults(ctx, []store.Result{
		{DeliveryID: ds[0].ID, ClaimedAt: ds[0].ClaimedAt, State: store.StateRetrying, MaybeSent: true, NextTry: c.Now(), At: c.Now()},
		{DeliveryID: ds[1].ID, ClaimedAt: ds[1].ClaimedAt, State: store.StateRetrying, ErrCode: -1, NextTry: c.Now(), At: c.Now()},
	})
	if d := delivery(t, s, ds[0].ID); !d.MaybeSentAt.Equal(ds[0].ClaimedAt) || d.Attempts != 1 {
		t.Errorf("ambiguous: MaybeSentAt %v attempts %d; want %v, 1", d.MaybeSentAt, d.Attempts, ds[0].ClaimedAt)
	}
	if d := delivery(t, s, ds[1].ID); !d.MaybeSentAt.IsZero() {
		t.Errorf("clear -1: MaybeSentAt %v, want none", d.MaybeSentAt)
	}
}

// The sweeper renews the leases the outbox holds and takes back only the
// expired ones it does not hold.
func TestSweep_RenewsHeldTakesBackExpired(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	enqueueKind(t, s, store.KindTemplate, 3)
	t0 := c.Now()
	ds := claimAll(t, s, t0, time.Minute) // held, expired, and fresh (claimed later)
	held, expired := ds[0], ds[1]
	s.RecordResults(ctx, []store.Result{{DeliveryID: ds[2].ID, ClaimedAt: ds[2].ClaimedAt, State: store.StateRetrying,
		NextTry: t0, Refund: true, At: t0}})
	c.Advance(90 * time.Second)
	fresh := claimAll(t, s, c.Now(), time.Minute)
	if len(fresh) != 1 {
		t.Fatalf("claimed %d, want 1", len(fresh))
	}
	c.Advance(40 * time.Second) // t0+130s: the first two leases expired, the fresh one not
	renewTo := c.Now().Add(time.Minute)
	sw, err := s.Sweep(ctx, c.Now(), []int64{held.ID}, renewTo)
	if err != nil {
		t.Fatal(err)
	}
	if sw != (store.Swept{Renewed: 1, Requeued: 1}) {
		t.Errorf("swept %+v, want 1 renewed and 1 requeued", sw)
	}
	if d := delivery(t, s, held.ID); d.State != store.StateSending || !d.LeaseUntil.Equal(renewTo.Truncate(time.Millisecond)) {
		t.Errorf("held: %s until %v; want sending until %v", d.State, d.LeaseUntil, renewTo)
	}
	if d := delivery(t, s, expired.ID); d.State != store.StateRetrying {
		t.Errorf("expired, not held: %s, want retrying", d.State)
	}
	if d := delivery(t, s, fresh[0].ID); d.State != store.StateSending {
		t.Errorf("fresh lease: %s, want still sending", d.State)
	}
}

// A result or a start for a claim since taken back changes nothing: the
// delivery may already be someone else's.
func TestClaim_LostClaimIsIgnored(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	enqueueKind(t, s, store.KindText, 1)
	old := claimAll(t, s, c.Now(), time.Minute)[0]
	c.Advance(2 * time.Minute)
	s.Sweep(ctx, c.Now(), nil, c.Now())
	c.Advance(time.Second)
	cur := claimAll(t, s, c.Now(), time.Minute)[0]
	if err := s.StartAttempt(ctx, old, c.Now()); !errors.Is(err, store.ErrClaimLost) {
		t.Errorf("StartAttempt on the lost claim: %v, want ErrClaimLost", err)
	}
	if err := s.RecordResults(ctx, []store.Result{{DeliveryID: old.ID, ClaimedAt: old.ClaimedAt, State: store.StateSent, At: c.Now()}}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, cur.ID); d.State != store.StateSending {
		t.Errorf("a result for the lost claim made it %s", d.State)
	}
	if err := s.StartAttempt(ctx, cur, c.Now()); err != nil {
		t.Errorf("StartAttempt on the current claim: %v", err)
	}
	if err := s.RecordResults(ctx, []store.Result{{DeliveryID: cur.ID, ClaimedAt: cur.ClaimedAt, State: store.StateSent, At: c.Now()}}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, cur.ID); d.State != store.StateSent || d.Attempts != 1 {
		t.Errorf("current claim's result: %s, %d attempts; want sent, 1", d.State, d.Attempts)
	}
}

// unknown is final: counted apart, not pending, listed first, pruned like
// sent and failed, and an admin can queue it again.
func TestUnknown_CountsListsAndResends(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	m := enqueueKind(t, s, store.KindText, 4)
	ds := claimAll(t, s, c.Now(), time.Minute)
	for _, d := range ds[:2] {
		if err := s.StartAttempt(ctx, d, c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s.RecordResults(ctx, []store.Result{
		{DeliveryID: ds[2].ID, ClaimedAt: ds[2].ClaimedAt, State: store.StateSent, At: c.Now()},
		{DeliveryID: ds[3].ID, ClaimedAt: ds[3].ClaimedAt, State: store.StateFailed, ErrCode: 45015, At: c.Now()},
	})
	if _, err := s.ResumeInterrupted(ctx, c.Now()); err != nil { // the two in flight
		t.Fatal(err)
	}
	got, err := s.Message(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.DeliveryCounts{Sent: 1, Failed: 1, Unknown: 2}); got.Counts != want {
		t.Errorf("counts %+v, want %+v", got.Counts, want)
	}
	if got.Counts.Pending() != 0 || got.Counts.Final() != 4 {
		t.Errorf("Pending %d Final %d, want 0 and 4", got.Counts.Pending(), got.Counts.Final())
	}
	if ms, _ := s.Messages(ctx, 10, 0); len(ms) != 1 || ms[0].Counts != got.Counts {
		t.Errorf("Messages counts %+v, want %+v", ms, got.Counts)
	}
	page, _ := s.DeliveriesPage(ctx, m.ID, 3)
	for _, d := range page {
		if d.State != store.StateUnknown && d.State != store.StateFailed {
			t.Errorf("first page holds a %s delivery; want failed and unknown first", d.State)
		}
	}
	if p, _, _ := s.DeliveryTotalsSince(ctx, m.ID); p != 0 {
		t.Errorf("DeliveryTotalsSince pending %d, want 0", p)
	}
	if ds, _ := s.ClaimDue(ctx, c.Now().Add(time.Hour), 10, nil); len(ds) != 0 {
		t.Errorf("unknown deliveries were claimed again: %+v", ds)
	}

	n, err := s.ResendUnknown(ctx, m.ID, c.Now())
	if err != nil || n != 2 {
		t.Fatalf("ResendUnknown = %d, %v; want 2", n, err)
	}
	got, _ = s.Message(ctx, m.ID)
	if want := (store.DeliveryCounts{Sent: 1, Failed: 1, Queued: 2}); got.Counts != want {
		t.Errorf("after ResendUnknown: %+v, want %+v", got.Counts, want)
	}
	for _, d := range ds[:2] {
		d := delivery(t, s, d.ID)
		if d.State != store.StateQueued || d.Attempts != 0 || d.ErrMsg != "" || !d.MaybeSentAt.IsZero() {
			t.Errorf("resent delivery %+v: want queued afresh", d)
		}
	}
	if n, _ := s.ResendUnknown(ctx, m.ID, c.Now()); n != 0 {
		t.Errorf("second ResendUnknown = %d, want 0", n)
	}
}

// A message whose deliveries are final, unknown ones included, is pruned.
func TestPrune_UnknownIsFinal(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	m := enqueueKind(t, s, store.KindText, 1)
	d := claimAll(t, s, c.Now(), time.Minute)[0]
	s.StartAttempt(ctx, d, c.Now())
	s.ResumeInterrupted(ctx, c.Now())
	c.Advance(10 * day)
	p, err := s.Prune(ctx, store.Retention{Messages: day})
	if err != nil || p.Messages != 1 {
		t.Errorf("Prune = %+v, %v; want the message with an unknown delivery pruned", p, err)
	}
	if _, err := s.Message(ctx, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Message after prune: %v", err)
	}
}

// Re-queueing a broadcast's deliveries runs in batches, and still gets
// every one of them.
func TestRetryFailedAndWakeKind_Batched(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	const n = 4500
	m := enqueueKind(t, s, store.KindTemplate, n)
	ds := claimAll(t, s, c.Now(), time.Minute)
	for len(ds) < n {
		ds = append(ds, claimAll(t, s, c.Now(), time.Minute)...)
	}
	rs := make([]store.Result, len(ds))
	for i, d := range ds {
		rs[i] = store.Result{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateFailed, At: c.Now()}
	}
	if err := s.RecordResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RetryFailed(ctx, m.ID, c.Now().Add(time.Hour)); err != nil || got != n {
		t.Fatalf("RetryFailed = %d, %v; want %d", got, err, n)
	}
	if got, err := s.WakeKind(ctx, store.KindTemplate, c.Now()); err != nil || got != n {
		t.Fatalf("WakeKind = %d, %v; want %d", got, err, n)
	}
	if at, ok, _ := s.NextDue(ctx, nil); !ok || at.After(c.Now()) {
		t.Errorf("NextDue %v %v; want due now", at, ok)
	}
}

// An admin's retry of a failed delivery starts afresh, forgetting an
// earlier unknown outcome as ResendUnknown does: else the outbox would
// turn it unknown past WeChat's de-duplication window instead of sending.
func TestRetryFailed_ForgetsEarlierUnknownOutcome(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	m := enqueueKind(t, s, store.KindTemplate, 1)
	d := claimAll(t, s, c.Now(), time.Minute)[0]
	s.RecordResults(ctx, []store.Result{{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateRetrying, MaybeSent: true, NextTry: c.Now(), At: c.Now()}})
	d = claimAll(t, s, c.Now(), time.Minute)[0]
	s.RecordResults(ctx, []store.Result{{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateFailed, ErrCode: 43004, At: c.Now()}})
	if got := delivery(t, s, d.ID); got.State != store.StateFailed || got.MaybeSentAt.IsZero() {
		t.Fatalf("before: %s, MaybeSentAt %v", got.State, got.MaybeSentAt)
	}
	if n, err := s.RetryFailed(ctx, m.ID, c.Now()); err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v", n, err)
	}
	if got := delivery(t, s, d.ID); got.State != store.StateQueued || got.Attempts != 0 || !got.MaybeSentAt.IsZero() {
		t.Errorf("after RetryFailed: %s, %d attempts, MaybeSentAt %v; want queued afresh", got.State, got.Attempts, got.MaybeSentAt)
	}
}
