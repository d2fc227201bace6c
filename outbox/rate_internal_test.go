package outbox

import (
	"testing"
	"time"
)

func TestRateMeter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type ev struct {
		at time.Duration
		n  int64
	}
	for _, tc := range []struct {
		name   string
		events []ev
		at     time.Duration
		want   float64
	}{
		{"nothing yet", nil, 0, 0},
		{"first second counts as one", []ev{{0, 5}}, 0, 5},
		{"since the first event", []ev{{0, 10}, {time.Second, 10}, {3 * time.Second, 20}}, 4 * time.Second, 10},
		{"full window", []ev{{5 * time.Second, 300}, {15 * time.Second, 300}}, 40 * time.Second, 10},
		{"old buckets drop out", []ev{{0, 300}, {40 * time.Second, 60}}, 40 * time.Second, 2},
		{"quiet for a window", []ev{{0, 300}}, 100 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m rateMeter
			for _, e := range tc.events {
				m.add(t0.Add(e.at), e.n)
			}
			if got := m.perSecond(t0.Add(tc.at)); got != tc.want {
				t.Errorf("rate %v, want %v", got, tc.want)
			}
		})
	}
}
