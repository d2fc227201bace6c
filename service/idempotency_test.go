package service_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

func idem(key, body string) *service.Idempotency {
	h := sha256.Sum256([]byte(body))
	return &service.Idempotency{Scope: "token:1", Key: key, Hash: h[:]}
}

func TestSend_IdempotencyKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := func(i *service.Idempotency, text string) service.SendRequest {
		return service.SendRequest{Kind: store.KindText, Text: text, UserNames: []string{"bob"}, Idempotency: i}
	}
	first, err := f.svc.Send(ctx, service.CLIActor, req(idem("k1", "a"), "a"))
	if err != nil {
		t.Fatal(err)
	}
	again := idem("k1", "a")
	second, err := f.svc.Send(ctx, service.CLIActor, req(again, "a"))
	if err != nil || second.ID != first.ID || !again.Replayed || second.Total != 1 {
		t.Fatalf("retry = %+v replayed=%v, %v; want message %d again", second, again.Replayed, err, first.ID)
	}
	_, err = f.svc.Send(ctx, service.CLIActor, req(idem("k1", "b"), "b"))
	if e := service.AsError(err); e.Code != service.EConflict || e.Reason != "idempotency_key_reused" {
		t.Fatalf("same key, other body: err = %v, want idempotency_key_reused", err)
	}
	other := idem("k1", "a")
	other.Scope = "token:2"
	if m, err := f.svc.Send(ctx, service.CLIActor, req(other, "a")); err != nil || m.ID == first.ID || other.Replayed {
		t.Fatalf("another token's key: %+v, %v; want a new message", m, err)
	}
	if n := len(f.messages(t)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

// Two requests with the same key race: the second commits between the
// first's check and its commit. The first then answers with the
// second's message; nothing is queued twice.
func TestSend_IdempotencyKeyRace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var raced store.Message
	f.svc.SetBeforeEnqueue(func() {
		f.svc.SetBeforeEnqueue(nil)
		var err error
		raced, err = f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "a",
			UserNames: []string{"bob"}, Idempotency: idem("k", "a")})
		if err != nil {
			t.Error(err)
		}
	})
	mine := idem("k", "a")
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "a",
		UserNames: []string{"bob"}, Idempotency: mine})
	if err != nil || raced.ID == 0 || m.ID != raced.ID || !mine.Replayed {
		t.Fatalf("loser = %+v replayed=%v, %v; winner %d", m, mine.Replayed, err, raced.ID)
	}
	if n := len(f.messages(t)); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if log, _ := f.st.AuditLog(ctx, 10); len(log) != 1 {
		t.Errorf("%d audit entries, want 1 (the loser's transaction rolled back)", len(log))
	}
}
