package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// rateOutbox is an outbox that reports a fixed delivery rate (the input an
// ETA is computed from) and delivers nothing.
type rateOutbox struct{ rate float64 }

func (rateOutbox) Notify()                                    {}
func (rateOutbox) Resume(ctx context.Context, k string) error { return nil }
func (rateOutbox) Paused() []outbox.Pause                     { return nil }
func (o rateOutbox) DeliveryRate() float64                    { return o.rate }

func TestSend_RefusedFromProgramsWhileTheBacklogIsOverMax(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.withClock()
	svc := service.New(service.Deps{Store: f.st, Outbox: rateOutbox{rate: 0.5}, Now: c.Now}, service.Config{MaxBacklog: 4})
	api := service.Actor{Name: "api:ci", Via: "api"}
	toAll := service.SendRequest{Kind: store.KindText, Text: "hi", All: true} // 3 bound users

	if _, err := svc.Send(ctx, api, toAll); err != nil {
		t.Fatalf("first send, backlog 0: %v", err)
	}
	idem := &service.Idempotency{Scope: "token:1", Key: "k1", Hash: []byte("h")}
	first := toAll
	first.Idempotency = idem
	if _, err := svc.Send(ctx, api, first); err != nil {
		t.Fatalf("second send, backlog 3 of 4: %v", err)
	}
	c.Advance(2 * time.Second) // past the reused reading
	b, err := svc.Backlog(ctx)
	if err != nil || b.Depth != 6 || b.Capped || (b.Oldest < 2*time.Second || b.Oldest >= 2*time.Second+time.Millisecond) /* times are kept in ms */ || b.Rate != 0.5 || b.ETA != 12*time.Second {
		t.Fatalf("backlog %+v, %v; want depth 6, oldest 2s, ETA 12s at 0.5/s", b, err)
	}

	for _, tt := range []struct {
		name    string
		by      service.Actor
		refused bool
	}{
		{"API", api, true},
		{"push URL", service.Actor{UserID: f.ids["bob"], Name: "bob", Via: "sendkey"}, true},
		{"dashboard", service.Actor{UserID: f.ids["alice"], Name: "alice", Via: "dashboard"}, false},
		{"CLI", service.CLIActor, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Send(ctx, tt.by, toAll)
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := service.AsError(err)
			if err == nil || e.Code != service.EUnavailable || e.Reason != "backlog_full" {
				t.Fatalf("err = %v, want unavailable/backlog_full", err)
			}
			// 2 over the limit at 0.5/s: room again in 4 s.
			if want := c.Now().Add(4 * time.Second); !e.RetryAt.Equal(want) {
				t.Errorf("RetryAt %v, want %v", e.RetryAt, want)
			}
		})
	}
	// A retry of a send that was accepted is answered, not refused.
	replay := toAll
	replay.Idempotency = &service.Idempotency{Scope: "token:1", Key: "k1", Hash: []byte("h")}
	if _, err := svc.Send(ctx, api, replay); err != nil || !replay.Idempotency.Replayed {
		t.Errorf("replayed send: %v (replayed %v), want the first answer", err, replay.Idempotency.Replayed)
	}
	// No limit: accepted whatever the backlog.
	open := service.New(service.Deps{Store: f.st, Now: c.Now}, service.Config{})
	if _, err := open.Send(ctx, api, toAll); err != nil {
		t.Errorf("without WXPUSH_MAX_BACKLOG: %v", err)
	}
}

func TestMessageBacklog_PlaceInTheQueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.withClock()
	for _, tt := range []struct {
		name string
		rate float64
		want time.Duration // the second message's ETA
	}{
		{"rate known", 2, 3 * time.Second},
		{"nothing delivered lately", 0, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := service.New(service.Deps{Store: f.st, Outbox: rateOutbox{rate: tt.rate}, Now: c.Now}, service.Config{})
			ms := f.messages(t)
			if len(ms) == 0 {
				for range 2 {
					if _, err := svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "hi", All: true}); err != nil {
						t.Fatal(err)
					}
				}
				ms = f.messages(t)
			}
			second := ms[0] // newest first
			mb, err := svc.MessageBacklog(ctx, second.ID)
			if err != nil || mb.Ahead != 6 || mb.Depth != 6 || mb.ETA != tt.want {
				t.Errorf("%+v, %v; want 6 ahead of 6, ETA %v", mb, err, tt.want)
			}
		})
	}
}
