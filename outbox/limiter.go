package outbox

import (
	"context"
	"sync"
	"time"
)

// limiter spaces out send starts to a rate per second (a token bucket with
// a burst of one second's worth). A zero rate means no limit.
type limiter struct {
	mu     sync.Mutex
	every  time.Duration
	next   time.Time
	burst  time.Duration
	enable bool
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return &limiter{}
	}
	every := time.Duration(float64(time.Second) / perSecond)
	return &limiter{every: every, burst: time.Second, enable: true}
}

func (l *limiter) wait(ctx context.Context) error {
	if !l.enable {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if floor := now.Add(-l.burst); l.next.Before(floor) {
		l.next = floor
	}
	at := l.next
	l.next = l.next.Add(l.every)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
