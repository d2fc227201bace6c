package handlers

import (
	"testing"
	"time"
)

var limitEpoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// TestBucketLimiter_BurstRefillAndWait drives one key's bucket with a fake
// clock: each step spends a token at its time and says what it must get.
func TestBucketLimiter_BurstRefillAndWait(t *testing.T) {
	type step struct {
		at   time.Duration // since limitEpoch
		ok   bool
		wait time.Duration // when refused
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"a full burst at once, then the wait for one token", 2, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
		}},
		{"a refused request spends nothing", 2, 1, []step{
			{0, true, 0}, {0, false, 500 * time.Millisecond}, {0, false, 500 * time.Millisecond},
			{100 * time.Millisecond, false, 400 * time.Millisecond}, {500 * time.Millisecond, true, 0},
		}},
		{"tokens refill at the rate", 0.5, 10, []step{ // the send key's 30 a minute
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 2 * time.Second}, {time.Second, false, time.Second},
			{2 * time.Second, true, 0}, {2 * time.Second, false, 2 * time.Second},
			{6 * time.Second, true, 0}, {6 * time.Second, true, 0}, {6 * time.Second, false, 2 * time.Second},
		}},
		{"refill stops at the burst", 1, 2, []step{
			{0, true, 0}, {0, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, time.Second},
		}},
		{"a clock that steps back refills nothing", 1, 1, []step{
			{10 * time.Second, true, 0}, {5 * time.Second, false, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newBucketLimiter(tt.rate, tt.burst)
			for i, s := range tt.steps {
				ok, wait := l.allow(7, limitEpoch.Add(s.at))
				if ok != s.ok || wait != s.wait {
					t.Fatalf("step %d at +%v: allow = %v, %v; want %v, %v", i, s.at, ok, wait, s.ok, s.wait)
				}
			}
		})
	}
}

func TestBucketLimiter_KeysHaveTheirOwnBuckets(t *testing.T) {
	l := newBucketLimiter(1, 1)
	if ok, _ := l.allow(1, limitEpoch); !ok {
		t.Fatal("key 1's first request refused")
	}
	if ok, _ := l.allow(1, limitEpoch); ok {
		t.Fatal("key 1's second request allowed")
	}
	if ok, _ := l.allow(2, limitEpoch); !ok {
		t.Fatal("key 2 refused because of key 1")
	}
}

// TestBucketLimiter_ForgetsFullBuckets: one bucket per user must not pile
// up; a bucket that is full again is dropped at the next sweep, one that is
// still refilling is kept with its state.
func TestBucketLimiter_ForgetsFullBuckets(t *testing.T) {
	l := newBucketLimiter(1.0/60, 2) // a token a minute
	now := limitEpoch
	for key := range int64(1000) {
		l.allow(key, now) // one token left: full again a minute later
	}
	// Key 1000 spends its whole burst: full again only after two minutes.
	l.allow(1000, now)
	l.allow(1000, now)
	if n := len(l.buckets); n != 1001 {
		t.Fatalf("%d buckets after 1001 keys, want 1001", n)
	}

	// Sweeps are at most a minute apart: not yet.
	now = now.Add(59 * time.Second)
	l.allow(2000, now)
	if n := len(l.buckets); n != 1002 {
		t.Fatalf("%d buckets 59 s later, want all 1002 (no sweep yet)", n)
	}

	now = limitEpoch.Add(time.Minute)
	l.allow(3000, now)
	if _, ok := l.buckets[1000]; !ok {
		t.Fatal("the sweep dropped key 1000, whose bucket is still refilling")
	}
	// Left: key 1000 (refilling), 2000 (spent 1 s ago), 3000 (just spent).
	if n := len(l.buckets); n != 3 {
		t.Fatalf("%d buckets after the sweep, want 3", n)
	}
	// Key 1000's state survived: one token back after a minute, then none.
	if ok, _ := l.allow(1000, now); !ok {
		t.Fatal("key 1000 after a minute: refused, want its refilled token")
	}
	if ok, wait := l.allow(1000, now); ok || wait != time.Minute {
		t.Fatalf("key 1000 again: %v, %v; want refused for a minute", ok, wait)
	}
	// A forgotten key starts with a full bucket, as it would have had.
	for i := range 2 {
		if ok, _ := l.allow(5, now); !ok {
			t.Fatalf("forgotten key 5, request %d: refused", i+1)
		}
	}
	if ok, _ := l.allow(5, now); ok {
		t.Fatal("forgotten key 5: a third request at once allowed, burst is 2")
	}
}
