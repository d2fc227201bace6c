package outbox

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// AIMD rules for the number of sends in flight. WeChat publishes no
// concurrency figure; what it says is 45011 ("API minute-quota reached",
// the frequency limit) and -1 (system busy), and a slow answer says as
// much. So the outbox finds the level itself, as TCP does:
//
//   - slow start: each send answered in time adds one to the limit (the
//     limit doubles every round trip) until the first overload signal;
//   - then additive increase: each answer in time adds 1/limit (one per
//     round trip's worth of sends);
//   - an answer slower than latencyTolerance × the baseline (the
//     fastest recent answer) holds the limit: queues are forming
//     somewhere, more in flight would only wait longer;
//   - overload — 45011, -1, a timeout — multiplies the limit by
//     decreaseFactor, at most once per round trip (the sends already in
//     flight when the first one failed say nothing new);
//   - the limit stays within [Min, Max], and only grows while it is used
//     (sends wait for a slot, or at least half of the slots are busy).
const (
	decreaseFactor   = 0.7
	latencyTolerance = 2.0
	// baselineWindow: the baseline is the fastest answer within it, so
	// that it follows a network that got slower for good.
	baselineWindow = 10 * time.Second
)

// aimd is the in-flight limiter: acquire takes a slot, release gives it
// back, observe adjusts the limit from one send's answer.
type aimd struct {
	min, max int
	now      func() time.Time

	mu        sync.Mutex
	limit     float64
	inflight  int
	waiting   int           // acquire calls blocked
	freed     chan struct{} // closed and replaced when a slot frees or the limit grows
	slowStart bool

	baseline     time.Duration // fastest answer in the current window
	baselineAt   time.Time     // when the current window started
	nextBaseline time.Duration // fastest answer since then (becomes baseline)
	lastDecrease time.Time
	lastLatency  time.Duration
}

func newAIMD(min, max int, now func() time.Time) *aimd {
	min = max1(min)
	if max < min {
		max = min
	}
	return &aimd{min: min, max: max, now: now, limit: float64(min), freed: make(chan struct{}), slowStart: min < max}
}

func max1(n int) int { return max(n, 1) }

// Limit is the current number of sends allowed in flight.
func (a *aimd) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit)
}

// acquire blocks until a send may start (fewer than Limit in flight) or
// ctx ends.
func (a *aimd) acquire(ctx context.Context) error {
	a.mu.Lock()
	for a.inflight >= int(a.limit) {
		ch := a.freed
		a.waiting++
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			a.mu.Lock()
			a.waiting--
			a.mu.Unlock()
			return ctx.Err()
		}
		a.mu.Lock()
		a.waiting--
	}
	a.inflight++
	a.mu.Unlock()
	return nil
}

// release frees a slot taken by acquire.
func (a *aimd) release() {
	a.mu.Lock()
	a.inflight--
	a.wakeLocked()
	a.mu.Unlock()
}

func (a *aimd) wakeLocked() {
	close(a.freed)
	a.freed = make(chan struct{})
}

// overloaded reports whether a send's error says WeChat (or the way to
// it) is overloaded: 45011, -1, a timeout.
func overloaded(err error) bool {
	if err == nil {
		return false
	}
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Code == 45011 || we.Code == -1
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// observe adjusts the limit from one send that took latency and ended
// with err (nil: answered, whatever WeChat answered, unless it is an
// overload signal). Call it while the send still holds its slot.
func (a *aimd) observe(latency time.Duration, err error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastLatency = latency
	if overloaded(err) {
		// Once per round trip: the sends in flight with this one started
		// under the same limit.
		rtt := max(a.baseline, time.Millisecond)
		if a.lastDecrease.IsZero() || now.Sub(a.lastDecrease) >= rtt {
			a.limit = math.Max(float64(a.min), math.Floor(a.limit*decreaseFactor))
			a.lastDecrease = now
		}
		a.slowStart = false
		return
	}
	var we *wechat.Error
	if err != nil && !errors.As(err, &we) {
		return // no answer, and not a timeout: says nothing of load
	}
	// Answered (an error code such as 43004 is an answer too).
	a.updateBaseline(now, latency)
	if float64(latency) > latencyTolerance*float64(a.baseline) {
		return // hold: answers are slowing down
	}
	// Grow only a limit in use: sends wait for a slot, or at least half
	// of the slots are busy (this send's included).
	if a.waiting == 0 && float64(a.inflight) < a.limit/2 {
		return
	}
	if a.slowStart {
		a.limit++
	} else {
		a.limit += 1 / a.limit
	}
	if a.limit >= float64(a.max) {
		a.limit = float64(a.max)
	}
	a.wakeLocked()
}

func (a *aimd) updateBaseline(now time.Time, latency time.Duration) {
	if a.baselineAt.IsZero() {
		a.baseline, a.nextBaseline, a.baselineAt = latency, latency, now
		return
	}
	if now.Sub(a.baselineAt) >= baselineWindow {
		// A new window: the fastest of the last one is the baseline, so a
		// lucky answer long ago does not hold the limit forever.
		a.baseline, a.nextBaseline, a.baselineAt = a.nextBaseline, latency, now
	}
	a.baseline = min(a.baseline, latency)
	a.nextBaseline = min(a.nextBaseline, latency)
}
