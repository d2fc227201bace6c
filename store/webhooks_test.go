package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

// drainEvents takes every queued webhook delivery in the order the worker
// would send it, marking each delivered, and returns their events by
// endpoint.
func drainEvents(t *testing.T, s *store.Store, c *clock) map[int64][]store.WebhookEvent {
	t.Helper()
	ctx := context.Background()
	out := map[int64][]store.WebhookEvent{}
	for {
		js, err := s.DueWebhookJobs(ctx, c.Now(), 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 0 {
			return out
		}
		for _, j := range js {
			out[j.EndpointID] = append(out[j.EndpointID], j.Event)
			if err := s.RecordWebhookAttempt(ctx, store.WebhookAttempt{DeliveryID: j.DeliveryID, EndpointID: j.EndpointID,
				At: c.Now(), StatusCode: 200, Outcome: store.AttemptSucceeded}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func eventTypes(evs []store.WebhookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func eventData(t *testing.T, e store.WebhookEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWebhookEvents_WrittenWithTheChangeThatCausedThem(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	u, err := s.CreateUser(ctx, "alice", "pw-alice-123", false, true)
	if err != nil {
		t.Fatal(err)
	}
	// Before any endpoint exists, changes queue nothing.
	tok0, _, _ := s.NewBindToken(ctx, u.ID, time.Minute)
	if _, err := s.CompleteBinding(ctx, tok0, store.Binding{OpenID: "o-alice-0000001"}); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.WebhookQueue(ctx, c.Now()); n != 0 {
		t.Fatalf("%d deliveries queued without an endpoint", n)
	}
	if err := s.Unbind(ctx, u.ID); err != nil {
		t.Fatal(err)
	}

	all, err := s.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: "https://example.com/a", Events: store.WebhookEventTypes}, "whsec_a")
	if err != nil {
		t.Fatal(err)
	}
	only, err := s.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: "https://example.com/b", Events: []string{store.EventUserMessage}}, "whsec_b")
	if err != nil {
		t.Fatal(err)
	}

	// A change that fails writes no event.
	expired, _, _ := s.NewBindToken(ctx, u.ID, time.Minute)
	c.Advance(2 * time.Minute)
	if _, err := s.CompleteBinding(ctx, expired, store.Binding{OpenID: "o-alice-0000001"}); !errors.Is(err, store.ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	tok, _, _ := s.NewBindToken(ctx, u.ID, time.Minute)
	if _, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: "o-alice-0000001", Nickname: "阿丽"}); err != nil {
		t.Fatal(err)
	}
	at := c.Now().Truncate(time.Second)
	follow := store.Inbound{DedupKey: "f1", OpenID: "o-alice-0000001", MsgType: "event", Event: "subscribe", CreatedAt: at}
	text := store.Inbound{DedupKey: "m1", OpenID: "o-alice-0000001", MsgType: "text", Content: "你好", CreatedAt: at}
	for _, in := range []store.Inbound{follow, follow, text, text} { // WeChat's retries record once
		if _, err := s.IngestInbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.IngestInbound(ctx, store.Inbound{DedupKey: "u1", OpenID: "o-stranger-00001", MsgType: "event", Event: "unsubscribe", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unbind(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Unbind(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second unbind: %v", err)
	}

	// A message to two recipients: each delivery's end, then the message's.
	m, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "api"},
		[]store.Recipient{{UserID: u.ID, OpenID: "o-alice-0000001"}, {OpenID: "o-bob-000000001"}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDue(ctx, c.Now(), 10, nil)
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %v %d", err, len(ds))
	}
	sent := store.Result{DeliveryID: ds[0].ID, State: store.StateSent, At: c.Now()}
	if err := s.RecordResults(ctx, []store.Result{sent}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	failed := store.Result{DeliveryID: ds[1].ID, State: store.StateFailed, ErrCode: 43004, ErrMsg: "require subscribe", At: c.Now()}
	retry := store.Result{DeliveryID: ds[0].ID, State: store.StateSent, At: c.Now()} // late duplicate: not applied
	if err := s.RecordResults(ctx, []store.Result{failed, retry}); err != nil {
		t.Fatal(err)
	}

	byEndpoint := drainEvents(t, s, c)
	evs := byEndpoint[all.ID]
	wantAll := []string{store.EventBindingCreated, store.EventUserFollowed, store.EventUserMessage, store.EventUserUnfollowed,
		store.EventBindingRemoved, store.EventDeliveryFinished, store.EventDeliveryFinished, store.EventMessageFinished}
	if got := eventTypes(evs); !equal(got, wantAll) {
		t.Fatalf("events for the endpoint taking all: %v, want %v", got, wantAll)
	}
	if got := eventTypes(byEndpoint[only.ID]); !equal(got, []string{store.EventUserMessage}) {
		t.Fatalf("events for the endpoint taking user.message: %v", got)
	}
	if got := eventTypes(byEndpoint[only.ID]); byEndpoint[only.ID][0].PublicID != evs[2].PublicID {
		t.Errorf("one event, two endpoints: ids differ (%v)", got)
	}

	byType := map[string][]map[string]any{}
	for _, e := range evs {
		if len(e.PublicID) < 10 || e.PublicID[:4] != "evt_" {
			t.Errorf("event id %q", e.PublicID)
		}
		byType[e.Type] = append(byType[e.Type], eventData(t, e))
	}
	bc := byType[store.EventBindingCreated][0]
	if user, _ := bc["user"].(map[string]any); user["name"] != "alice" || user["id"] != u.PublicID || bc["nickname"] != "阿丽" || bc["openid"] != "o-al…0001" {
		t.Errorf("binding.created data %v", bc)
	}
	if msg := byType[store.EventUserMessage][0]; msg["content"] != "你好" || msg["user"] == nil {
		t.Errorf("user.message data %v", msg)
	}
	if un := byType[store.EventUserUnfollowed][0]; un["user"] != nil {
		t.Errorf("an unbound openid's unfollow names a user: %v", un)
	}
	df := byType[store.EventDeliveryFinished]
	if df[0]["state"] != "sent" || df[1]["state"] != "failed" || df[1]["errcode"] != float64(43004) || df[1]["message_id"] != float64(m.ID) {
		t.Errorf("delivery.finished data %v", df)
	}
	mf := byType[store.EventMessageFinished][0]
	if counts, _ := mf["counts"].(map[string]any); mf["total"] != float64(2) || counts["sent"] != float64(1) || counts["failed"] != float64(1) {
		t.Errorf("message.finished data %v", mf)
	}
}
