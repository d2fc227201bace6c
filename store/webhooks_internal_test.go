package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// An event is part of its change's transaction: when writing the event
// fails, the change is not made either.
func TestWebhookEvents_FailingEventUndoesItsChange(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "alice", "pw-alice-123", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWebhookEndpoint(ctx, WebhookEndpoint{URL: "https://example.com/h", Events: []string{EventBindingCreated}}, "whsec_x"); err != nil {
		t.Fatal(err)
	}
	// Break the event tables under the store's feet.
	if _, err := s.wdb.ExecContext(ctx, `DROP TABLE webhook_attempts`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `DROP TABLE webhook_deliveries`); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.NewBindToken(ctx, u.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteBinding(ctx, tok, Binding{OpenID: "o-alice-0000001"}); err == nil {
		t.Fatal("the binding succeeded though its event could not be written")
	}
	if _, err := s.Binding(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the binding was made without its event: %v", err)
	}
	var used int
	s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM bind_tokens WHERE used_at IS NOT NULL`).Scan(&used)
	if used != 0 {
		t.Fatal("the token was spent without the binding's event")
	}
}

// A push recorded in a group commit that another write made fail is
// redone alone: its event is written once, and the worker is woken only
// for the commit that kept it.
func TestWebhookEvents_GroupCommitRedoWritesTheEventOnce(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	if _, err := s.CreateWebhookEndpoint(ctx, WebhookEndpoint{URL: "https://example.com/h", Events: []string{EventUserMessage}}, "whsec_x"); err != nil {
		t.Fatal(err)
	}
	var woken atomic.Int32
	s.SetWebhookNotify(func() { woken.Add(1) })
	in := Inbound{DedupKey: "m1", OpenID: "o-alice-0000001", MsgType: "text", Content: "hi", CreatedAt: time.Now()}
	boom := errors.New("boom")
	// One transaction holding both, as a batch does: the second fails...
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := s.ingestOne(tx, in); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// ... and the push is redone on its own, as writeLoop does.
	if err := s.tx(ctx, func(tx *wtx) error { _, err := s.ingestOne(tx, in); return err }); err != nil {
		t.Fatal(err)
	}
	var events, deliveries int
	s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&events)
	s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&deliveries)
	if events != 1 || deliveries != 1 {
		t.Fatalf("%d events, %d deliveries; want 1 and 1", events, deliveries)
	}
	if n := woken.Load(); n != 1 {
		t.Fatalf("the worker was woken %d times, want once (for the commit)", n)
	}
}
