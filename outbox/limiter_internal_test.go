package outbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimiter_RateAndBurstOfOneSecond(t *testing.T) {
	tests := []struct {
		perSecond float64
		limit     rate.Limit
		burst     int
	}{
		{0, rate.Inf, 0},
		{-1, rate.Inf, 0},
		{0.2, 0.2, 1},
		{1, 1, 1},
		{2.5, 2.5, 3},
		{20, 20, 20},
	}
	for _, tt := range tests {
		l := newLimiter(tt.perSecond)
		if got, burst := l.lim.Limit(), l.lim.Burst(); got != tt.limit || burst != tt.burst {
			t.Errorf("newLimiter(%g): %v a second, burst %d; want %v, %d", tt.perSecond, got, burst, tt.limit, tt.burst)
		}
	}
}

// TestLimiter_BurstThenWaits: a second's worth of sends start at once, the
// next one must wait — here a minute, so a context that ends sooner is
// refused at once instead of sleeping.
func TestLimiter_BurstThenWaits(t *testing.T) {
	l := newLimiter(3.0 / 180) // burst 1, then one every minute
	if err := l.wait(context.Background()); err != nil {
		t.Fatalf("first send: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.wait(ctx); err == nil {
		t.Fatal("second send within 10 s allowed, want a wait of a minute")
	}
}

func TestLimiter_ZeroRateNeverWaitsButHonoursCancel(t *testing.T) {
	l := newLimiter(0)
	for i := range 10_000 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait after stop: %v, want context.Canceled", err)
	}
}
