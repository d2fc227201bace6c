package outbox

import (
	"context"
	"math"

	"golang.org/x/time/rate"
)

// limiter spaces out send starts to a rate per second (a token bucket with
// a burst of one second's worth). A zero rate means no limit.
type limiter struct {
	lim *rate.Limiter
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return &limiter{lim: rate.NewLimiter(rate.Inf, 0)}
	}
	return &limiter{lim: rate.NewLimiter(rate.Limit(perSecond), int(max(1, math.Ceil(perSecond))))}
}

// wait blocks until a send may start or ctx ends; it returns ctx's error
// if ctx is already done, even with no limit.
func (l *limiter) wait(ctx context.Context) error {
	return l.lim.Wait(ctx)
}
