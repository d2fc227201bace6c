package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// bucketSweepEvery is how often allow looks for buckets to forget.
const bucketSweepEvery = time.Minute

// bucketLimiter is a token bucket per key: on average rate requests a
// second, up to burst at once. Keys are API token ids and user ids (one
// personal send key each), so there can be as many buckets as users: a
// bucket that has filled up again is forgotten, which changes nothing
// (a new one starts full), and the map holds only keys used recently.
type bucketLimiter struct {
	rate  float64
	burst float64 // a float for the API's error message (%g)

	mu      sync.Mutex
	buckets map[int64]*rate.Limiter
	swept   time.Time
}

func newBucketLimiter(r float64, burst int) *bucketLimiter {
	return &bucketLimiter{rate: r, burst: float64(burst), buckets: map[int64]*rate.Limiter{}}
}

// allow spends one token of key's bucket at now (the server's clock, so
// tests can move it). When none is left it returns false and how long
// until one is.
func (l *bucketLimiter) allow(key int64, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.rate), int(l.burst))
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, rate.InfDuration
	}
	if wait := r.DelayFrom(now); wait > 0 {
		// Refused: give the token back, this request is not coming later.
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweep forgets the buckets that are full again, at most once per
// bucketSweepEvery. l.mu must be held.
func (l *bucketLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < bucketSweepEvery {
		return
	}
	l.swept = now
	for key, b := range l.buckets {
		if b.TokensAt(now) >= l.burst {
			delete(l.buckets, key)
		}
	}
}
