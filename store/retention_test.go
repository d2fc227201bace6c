package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

const day = 24 * time.Hour

// finish claims every due delivery and records each one of msgIDs as
// sent (even ids) or failed (odd ids); the others stay claimed (pending).
func finish(t *testing.T, s *store.Store, c *clock, msgIDs ...int64) {
	t.Helper()
	ctx := context.Background()
	ds, err := s.ClaimDue(ctx, c.Now(), 100_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs []store.Result
	for _, d := range ds {
		for _, id := range msgIDs {
			if d.MessageID == id {
				state := store.StateSent
				if d.ID%2 == 1 {
					state = store.StateFailed
				}
				rs = append(rs, store.Result{DeliveryID: d.ID, State: state, At: c.Now()})
			}
		}
	}
	if err := s.RecordResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
}

func enqueue(t *testing.T, s *store.Store, n int) store.Message {
	t.Helper()
	rcpts := make([]store.Recipient, n)
	for i := range rcpts {
		rcpts[i] = store.Recipient{OpenID: fmt.Sprintf("openid-%d", i)}
	}
	m, err := s.EnqueueMessage(context.Background(), store.Message{Kind: store.KindText, Body: "hi", Source: "cli"}, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPrune_DeletesOnlyOldFinishedMessagesAndOldEvents(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	t0 := c.Now()

	// old: created at t0, every delivery final; big enough to need
	// several delete batches.
	old := enqueue(t, s, 4500)
	finish(t, s, c, old.ID)
	// pending: created at t0, one delivery never finished.
	pending := enqueue(t, s, 1)
	if _, err := s.IngestInbound(ctx, store.Inbound{DedupKey: "old", OpenID: "o", MsgType: "text", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, store.AuditEntry{At: t0.Add(-300 * day), Actor: "cli", Action: "message.send"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, store.AuditEntry{At: t0, Actor: "cli", Action: "message.send"}); err != nil {
		t.Fatal(err)
	}

	c.Advance(89 * day)
	recent := enqueue(t, s, 3)
	finish(t, s, c, recent.ID)
	c.Advance(2 * day) // now t0+91d: old and pending are past 90 days, recent is 2 days old
	if _, err := s.IngestInbound(ctx, store.Inbound{DedupKey: "new", OpenID: "o", MsgType: "text", CreatedAt: c.Now()}); err != nil {
		t.Fatal(err)
	}

	// Zero durations keep everything.
	if p, err := s.Prune(ctx, store.Retention{}); err != nil || p != (store.Pruned{}) {
		t.Fatalf("Prune(keep forever) = %+v, %v; want nothing deleted", p, err)
	}

	p, err := s.Prune(ctx, store.Retention{Messages: 90 * day, Inbound: 7 * day, Audit: 365 * day})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Pruned{Messages: 1, Deliveries: 4500, Inbound: 1, Audit: 1}
	if p != want {
		t.Errorf("Prune = %+v, want %+v", p, want)
	}
	if _, err := s.Message(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old finished message: err = %v, want ErrNotFound", err)
	}
	if ds, err := s.Deliveries(ctx, old.ID); err != nil || len(ds) != 0 {
		t.Errorf("old message's deliveries: %d left, err %v", len(ds), err)
	}
	if m, err := s.Message(ctx, pending.ID); err != nil || m.Counts.Pending() != 1 {
		t.Errorf("old message with a pending delivery: %+v, %v; want it kept", m.Counts, err)
	}
	if m, err := s.Message(ctx, recent.ID); err != nil || m.Counts.Final() != 3 {
		t.Errorf("recent finished message: %+v, %v; want it kept", m.Counts, err)
	}
	if n, _ := s.CountInbound(ctx); n != 1 {
		t.Errorf("inbound events left: %d, want 1 (the new one)", n)
	}
	if log, _ := s.AuditLog(ctx, 10); len(log) != 1 || !log[0].At.Equal(t0) {
		t.Errorf("audit log after prune: %+v, want only the entry at %v", log, t0)
	}

	// Nothing more to do on a second run.
	if p, err := s.Prune(ctx, store.Retention{Messages: 90 * day, Inbound: 7 * day, Audit: 365 * day}); err != nil || p != (store.Pruned{}) {
		t.Errorf("second Prune = %+v, %v; want nothing", p, err)
	}
}

func TestRunRetention_PrunesAtOnceAndStopsWithContext(t *testing.T) {
	s, c := openStore(t)
	m := enqueue(t, s, 2)
	finish(t, s, c, m.ID)
	c.Advance(10 * day)

	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan store.Pruned, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunRetention(ctx, store.Retention{Messages: day}, time.Hour, func(p store.Pruned, err error) {
			if err != nil {
				t.Error(err)
			}
			reports <- p
		})
	}()
	select {
	case p := <-reports:
		if p.Messages != 1 || p.Deliveries != 2 {
			t.Errorf("first run pruned %+v, want the one finished message", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunRetention did not prune at start")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunRetention did not stop when its context ended")
	}
}
