package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

// templateSend enqueues a template message to n recipients and claims its
// deliveries, as the outbox does before calling WeChat.
func templateSend(t *testing.T, s *store.Store, c *clock, n int) []store.Delivery {
	t.Helper()
	ctx := context.Background()
	rcpts := make([]store.Recipient, n)
	for i := range rcpts {
		rcpts[i] = store.Recipient{OpenID: fmt.Sprintf("o%d", i)}
	}
	if _, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindTemplate, TemplateID: "t", Source: "test"}, rcpts); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDue(ctx, c.Now(), n, nil)
	if err != nil || len(ds) != n {
		t.Fatalf("claim: %d deliveries, %v", len(ds), err)
	}
	return ds
}

// receipt pushes WeChat's TEMPLATESENDJOBFINISH for msgid; createTime
// tells WeChat's retries (same) from separate pushes (different).
func receipt(t *testing.T, s *store.Store, openid string, msgid int64, r string, createTime time.Time) (dup bool) {
	t.Helper()
	dup, err := s.IngestInbound(context.Background(), store.Inbound{
		DedupKey: fmt.Sprintf("event|%s|%d|TEMPLATESENDJOBFINISH|%d", openid, createTime.Unix(), msgid),
		OpenID:   openid, MsgType: "event", Event: "TEMPLATESENDJOBFINISH", CreatedAt: createTime,
		TemplateMsgID: msgid, Receipt: r,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dup
}

// sent records the send's answer: the delivery is sent with msgid.
func sent(t *testing.T, s *store.Store, c *clock, d store.Delivery, msgid int64) {
	t.Helper()
	if err := s.RecordResults(context.Background(), []store.Result{
		{DeliveryID: d.ID, State: store.StateSent, MsgID: msgid, At: c.Now()},
	}); err != nil {
		t.Fatal(err)
	}
}

func receiptOf(t *testing.T, s *store.Store, id int64) string {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != store.StateSent {
		t.Fatalf("delivery %d is %s, want sent", id, d.State)
	}
	return d.Receipt
}

func pendingReceipts(t *testing.T, s *store.Store) int {
	t.Helper()
	n, err := s.PendingReceipts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WeChat's receipt can reach /wechat before the send's answer has given
// the outbox the msgid: the receipt is kept and applied when the msgid is
// stored. Both orders end with the receipt on the delivery.
func TestReceipt_EitherOrderEndsOnTheDelivery(t *testing.T) {
	tests := []struct {
		name         string
		receiptFirst bool
		status       string
	}{
		{"receipt first, delivered", true, store.ReceiptDelivered},
		{"receipt first, blocked", true, store.ReceiptBlocked},
		{"receipt first, system failed", true, store.ReceiptSysFailed},
		{"answer first, delivered", false, store.ReceiptDelivered},
		{"answer first, blocked", false, store.ReceiptBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := openStore(t)
			ds := templateSend(t, s, c, 2)
			const msgid = 3_600_000_000_000_000_001
			if tt.receiptFirst {
				receipt(t, s, ds[0].OpenID, msgid, tt.status, c.Now())
				if n := pendingReceipts(t, s); n != 1 {
					t.Errorf("%d pending receipts after a receipt for an unknown msgid, want 1", n)
				}
				sent(t, s, c, ds[0], msgid)
			} else {
				sent(t, s, c, ds[0], msgid)
				receipt(t, s, ds[0].OpenID, msgid, tt.status, c.Now())
			}
			if got := receiptOf(t, s, ds[0].ID); got != tt.status {
				t.Errorf("receipt %q, want %q", got, tt.status)
			}
			if n := pendingReceipts(t, s); n != 0 {
				t.Errorf("%d pending receipts left, want 0", n)
			}
			// The other delivery, sent with its own msgid, got nothing.
			sent(t, s, c, ds[1], msgid+1)
			if got := receiptOf(t, s, ds[1].ID); got != "" {
				t.Errorf("other delivery's receipt %q, want none", got)
			}
		})
	}
}

// WeChat re-sends a push it got no answer for; a receipt repeated, before
// or after its msgid is known, changes nothing.
func TestReceipt_DuplicatesAreHarmless(t *testing.T) {
	s, c := openStore(t)
	ds := templateSend(t, s, c, 1)
	const msgid = 77
	at := c.Now()
	receipt(t, s, ds[0].OpenID, msgid, store.ReceiptDelivered, at)
	if dup := receipt(t, s, ds[0].OpenID, msgid, store.ReceiptDelivered, at); !dup {
		t.Error("WeChat's retry of the same push not reported as a duplicate")
	}
	// The same receipt pushed again as a new push (another CreateTime).
	c.Advance(time.Second)
	receipt(t, s, ds[0].OpenID, msgid, store.ReceiptDelivered, c.Now())
	if n := pendingReceipts(t, s); n != 1 {
		t.Fatalf("%d pending receipts for one msgid, want 1", n)
	}
	sent(t, s, c, ds[0], msgid)
	c.Advance(time.Second)
	receipt(t, s, ds[0].OpenID, msgid, store.ReceiptDelivered, c.Now())
	if got := receiptOf(t, s, ds[0].ID); got != store.ReceiptDelivered {
		t.Errorf("receipt %q, want delivered", got)
	}
	if n := pendingReceipts(t, s); n != 0 {
		t.Errorf("%d pending receipts left, want 0", n)
	}
}

// A receipt kept for a msgid that never comes holds up nothing: the other
// deliveries finish, and a day later Prune deletes it.
func TestReceipt_UnknownMsgIDBlocksNothingAndIsPruned(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	ds := templateSend(t, s, c, 3)
	receipt(t, s, "oStranger", 999, store.ReceiptDelivered, c.Now())
	for i, d := range ds {
		receipt(t, s, d.OpenID, int64(100+i), store.ReceiptDelivered, c.Now())
		sent(t, s, c, d, int64(100+i))
	}
	m, err := s.Message(ctx, ds[0].MessageID)
	if err != nil || m.Counts.Final() != 3 {
		t.Fatalf("message %+v, %v; want every delivery final", m.Counts, err)
	}
	for _, d := range ds {
		if got := receiptOf(t, s, d.ID); got != store.ReceiptDelivered {
			t.Errorf("delivery %d receipt %q, want delivered", d.ID, got)
		}
	}
	if n := pendingReceipts(t, s); n != 1 {
		t.Fatalf("%d pending receipts, want the stranger's", n)
	}

	c.Advance(23 * time.Hour)
	if p, err := s.Prune(ctx, store.Retention{}); err != nil || p.PendingReceipts != 0 {
		t.Fatalf("Prune after 23 h = %+v, %v; want the receipt kept", p, err)
	}
	c.Advance(2 * time.Hour)
	if p, err := s.Prune(ctx, store.Retention{}); err != nil || p != (store.Pruned{PendingReceipts: 1}) {
		t.Fatalf("Prune after 25 h = %+v, %v; want the receipt pruned", p, err)
	}
	if n := pendingReceipts(t, s); n != 0 {
		t.Errorf("%d pending receipts after pruning, want 0", n)
	}
}

// A kept receipt older than a day is not applied: it cannot be about a
// msgid stored now. Prune deletes it.
func TestReceipt_ExpiredIsNotApplied(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	ds := templateSend(t, s, c, 2)
	receipt(t, s, ds[0].OpenID, 5, store.ReceiptDelivered, c.Now())
	c.Advance(23*time.Hour + 59*time.Minute)
	receipt(t, s, ds[1].OpenID, 6, store.ReceiptBlocked, c.Now())
	c.Advance(2 * time.Minute) // the first is a day and a minute old, the second 2 minutes
	sent(t, s, c, ds[0], 5)
	sent(t, s, c, ds[1], 6)
	if got := receiptOf(t, s, ds[0].ID); got != "" {
		t.Errorf("expired receipt applied: %q", got)
	}
	if got := receiptOf(t, s, ds[1].ID); got != store.ReceiptBlocked {
		t.Errorf("fresh receipt %q, want blocked", got)
	}
	if p, err := s.Prune(ctx, store.Retention{}); err != nil || p.PendingReceipts != 1 {
		t.Fatalf("Prune = %+v, %v; want the expired receipt pruned", p, err)
	}
	if n := pendingReceipts(t, s); n != 0 {
		t.Errorf("%d pending receipts, want 0", n)
	}
}

// A result that does not land (the delivery was taken back from sending,
// say by a restart) does not use up the receipt: the attempt that stores
// the msgid gets it.
func TestReceipt_KeptUntilTheMsgIDLands(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	ds := templateSend(t, s, c, 1)
	receipt(t, s, ds[0].OpenID, 42, store.ReceiptDelivered, c.Now())
	if _, err := s.ResumeInterrupted(ctx, c.Now()); err != nil {
		t.Fatal(err)
	}
	sent(t, s, c, ds[0], 42) // late: the delivery is no longer sending
	if d, _ := s.Delivery(ctx, ds[0].ID); d.Receipt != "" || d.MsgID != 0 {
		t.Fatalf("a result that did not land changed the delivery: %+v", d)
	}
	if n := pendingReceipts(t, s); n != 1 {
		t.Fatalf("%d pending receipts, want 1 (not used up)", n)
	}
	again, err := s.ClaimDue(ctx, c.Now(), 1, nil)
	if err != nil || len(again) != 1 {
		t.Fatalf("reclaim: %v %v", again, err)
	}
	sent(t, s, c, again[0], 42) // client_msg_id: WeChat answers the same msgid
	if got := receiptOf(t, s, ds[0].ID); got != store.ReceiptDelivered {
		t.Errorf("receipt %q, want delivered", got)
	}
}
