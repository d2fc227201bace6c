package handlers

import (
	"math"
	"sync"
	"time"
)

// bucketLimiter is a token bucket per key: on average rate requests a
// second, up to burst at once. Keys are API token ids, which admins create
// by hand, so the map stays small.
type bucketLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[int64]*bucketState
}

type bucketState struct {
	tokens float64
	at     time.Time
}

func newBucketLimiter(rate float64, burst int) *bucketLimiter {
	return &bucketLimiter{rate: rate, burst: float64(burst), buckets: map[int64]*bucketState{}}
}

// allow spends one token of key's bucket. When none is left it returns
// false and how long until one is.
func (l *bucketLimiter) allow(key int64, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucketState{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if now.After(b.at) {
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
