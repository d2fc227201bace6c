package outbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// step is one event the limiter sees: take n slots, an answer (latency,
// err) from a send holding a slot, time passing, or slots given back.
type step struct {
	take    int
	answer  time.Duration
	err     error
	answers int // how many such answers (default 1)
	advance time.Duration
	give    int
}

func ok(d time.Duration, n int) step { return step{answer: d, answers: n} }
func fail(err error, n int) step     { return step{answer: 50 * time.Millisecond, err: err, answers: n} }
func take(n int) step                { return step{take: n} }
func give(n int) step                { return step{give: n} }
func wait(d time.Duration) step      { return step{advance: d} }
func werr(code int) error            { return &wechat.Error{Code: code, Msg: "x"} }

func TestAIMD_Rules(t *testing.T) {
	ms := time.Millisecond
	// to16 grows a limit of 4 to 16 by slow start, with 16 sends in flight.
	to16 := func() []step {
		return []step{take(4), ok(50*ms, 4), take(4), ok(50*ms, 8), take(8)}
	}
	for _, tc := range []struct {
		name     string
		min, max int
		steps    []step
		want     int
	}{
		{"starts at the minimum", 4, 100, nil, 4},
		{"slow start: +1 per answer in time while the slots are full", 4, 100,
			[]step{take(4), ok(50*ms, 4)}, 8},
		{"slow start doubles each round trip", 4, 100,
			[]step{take(4), ok(50*ms, 4), take(4), ok(50*ms, 8)}, 16},
		{"no growth while the limit is not used", 4, 100,
			[]step{take(1), ok(50*ms, 10)}, 4},
		{"an answer with an error code is an answer", 4, 100,
			[]step{take(4), fail(werr(43004), 4)}, 8},
		{"45011 shrinks multiplicatively", 4, 100,
			append(to16(), fail(werr(45011), 1)), 11},
		{"-1 shrinks", 4, 100,
			append(to16(), fail(werr(-1), 1)), 11},
		{"a timeout shrinks", 4, 100,
			append(to16(), fail(context.DeadlineExceeded, 1)), 11},
		{"a network error without a timeout says nothing", 4, 100,
			[]step{take(4), fail(errors.New("connection refused"), 3)}, 4},
		{"once per round trip: a burst of 45011 from one window shrinks once", 4, 100,
			append(to16(), fail(werr(45011), 10)), 11},
		{"a round trip later it shrinks again", 4, 100,
			append(to16(), fail(werr(45011), 1), wait(50*ms), fail(werr(45011), 1)), 7},
		{"never below the minimum", 4, 100,
			[]step{take(4), fail(werr(45011), 1), wait(time.Second), fail(werr(45011), 1)}, 4},
		{"never above the maximum", 4, 10,
			[]step{take(4), ok(50*ms, 40), take(10), ok(50*ms, 40)}, 10},
		{"after a decrease: additive, +1 per limit's worth of answers", 4, 100,
			append(to16(), fail(werr(45011), 1), ok(50*ms, 11)), 11},
		{"... and reaches +1 after a limit's worth and one", 4, 100,
			append(to16(), fail(werr(45011), 1), ok(50*ms, 12)), 12},
		{"an answer slower than twice the baseline holds the limit", 4, 100,
			[]step{take(4), ok(50*ms, 1), ok(101*ms, 10)}, 5},
		{"the baseline follows a network that got slower for good", 4, 100,
			[]step{take(4), ok(50*ms, 1), wait(11 * time.Second), ok(150*ms, 1), wait(11 * time.Second), ok(150*ms, 3)}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			a := newAIMD(tc.min, tc.max, c.now)
			held := 0
			for i, s := range tc.steps {
				switch {
				case s.take > 0:
					for range s.take {
						if a.inflight >= int(a.limit) {
							break
						}
						if err := a.acquire(context.Background()); err != nil {
							t.Fatal(err)
						}
						held++
					}
				case s.give > 0:
					for range min(s.give, held) {
						a.release()
						held--
					}
				case s.advance > 0:
					c.t = c.t.Add(s.advance)
				default:
					for range max(s.answers, 1) {
						a.observe(s.answer, s.err)
					}
				}
				_ = i
			}
			if got := a.Limit(); got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

func TestAIMD_AcquireWaitsForASlot(t *testing.T) {
	a := newAIMD(2, 2, time.Now)
	ctx := context.Background()
	for range 2 {
		if err := a.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- a.acquire(ctx) }()
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.waiting == 1 })
	select {
	case err := <-got:
		t.Fatalf("a third send started with 2 allowed: %v", err)
	default:
	}
	a.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// A waiting acquire gives up when its context ends.
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- a.acquire(cctx) }()
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.waiting == 1 })
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire after cancel: %v", err)
	}
	if a.inflight != 2 {
		t.Errorf("in flight %d, want 2", a.inflight)
	}
}

// waitFor yields until cond holds (a goroutine reached a blocking point).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1_000_000 {
			t.Fatal(fmt.Sprint("condition never held"))
		}
		runtime.Gosched()
	}
}
