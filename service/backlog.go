package service

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// backlogCount is how many queued deliveries a backlog reading counts at
// most (more than that shows as "at least"), unless MaxBacklog needs more.
const backlogCount = 100_000

// backlogFresh is how long a backlog reading is reused: pages and
// load balancers may poll often; one count a second is enough.
const backlogFresh = time.Second

// Backlog is the outbox's queue as people and programs see it.
type Backlog struct {
	Depth  int  // deliveries queued or waiting to retry
	Capped bool // Depth is a lower bound: the count stopped there
	// Oldest: how long the oldest of them has waited since it was queued.
	Oldest time.Duration
	// Rate: deliveries brought to an end per second lately (0: none, or
	// no outbox in this process).
	Rate float64
	// ETA: how long the backlog takes to drain at Rate; 0 with an empty
	// backlog, -1 when it cannot be estimated (nothing delivered lately).
	ETA time.Duration
}

// Over reports whether the backlog is beyond max (0: no limit).
func (b Backlog) Over(max int) bool { return max > 0 && b.Depth > max }

// deliveryRater is the outbox's DeliveryRate; the CLI has no outbox.
type deliveryRater interface{ DeliveryRate() float64 }

func (s *Service) rate() float64 {
	if r, ok := s.outbox.(deliveryRater); ok {
		return r.DeliveryRate()
	}
	return 0
}

// eta is how long n deliveries take at rate per second; -1 when unknown.
func eta(n int, rate float64) time.Duration {
	if n == 0 {
		return 0
	}
	if rate <= 0 {
		return -1
	}
	return time.Duration(math.Ceil(float64(n) / rate * float64(time.Second)))
}

type backlogCache struct {
	mu   sync.Mutex
	at   time.Time
	last Backlog
}

// Backlog reads the outbox's queue: a bounded count, reused for a second.
func (s *Service) Backlog(ctx context.Context) (Backlog, error) {
	s.backlog.mu.Lock()
	defer s.backlog.mu.Unlock()
	now := s.now()
	if !s.backlog.at.IsZero() && !now.Before(s.backlog.at) && now.Sub(s.backlog.at) < backlogFresh {
		return s.backlog.last, nil
	}
	sb, err := s.store.Backlog(ctx, now, max(backlogCount, s.cfg.MaxBacklog+1))
	if err != nil {
		return Backlog{}, err
	}
	b := Backlog{Depth: sb.Depth, Capped: sb.Capped, Oldest: sb.Oldest, Rate: s.rate()}
	b.ETA = eta(b.Depth, b.Rate)
	s.backlog.at, s.backlog.last = now, b
	return b, nil
}

// MessageBacklog is where one message stands in the outbox's queue.
type MessageBacklog struct {
	Backlog         // the whole queue
	Ahead       int // deliveries up to this message's last queued one, its own included
	AheadCapped bool
	// ETA: when its last queued delivery is expected to be sent, from
	// now (0: nothing of it queued; -1: unknown).
	ETA time.Duration
}

// MessageBacklog reports the queue and the message's place in it.
func (s *Service) MessageBacklog(ctx context.Context, messageID int64) (MessageBacklog, error) {
	b, err := s.Backlog(ctx)
	if err != nil {
		return MessageBacklog{}, err
	}
	n, capped, err := s.store.BacklogAhead(ctx, messageID, backlogCount)
	if err != nil {
		return MessageBacklog{}, err
	}
	return MessageBacklog{Backlog: b, Ahead: n, AheadCapped: capped, ETA: eta(n, b.Rate)}, nil
}

// checkBacklog refuses new work from programs (the API, push URLs) while
// the backlog is over Config.MaxBacklog: EUnavailable, reason
// "backlog_full", RetryAt when the excess should have drained.
func (s *Service) checkBacklog(ctx context.Context, by Actor) error {
	if s.cfg.MaxBacklog <= 0 || (by.Via != "api" && by.Via != "sendkey") {
		return nil
	}
	b, err := s.Backlog(ctx)
	if err != nil {
		return err
	}
	if !b.Over(s.cfg.MaxBacklog) {
		return nil
	}
	wait := eta(b.Depth-s.cfg.MaxBacklog, b.Rate)
	if wait < 0 {
		wait = time.Minute // nothing delivered lately: look again in a minute
	}
	wait = min(max(wait, time.Second), time.Hour)
	return &Error{Code: EUnavailable, Reason: "backlog_full", RetryAt: s.now().Add(wait),
		Message: fmt.Sprintf("待发送队列已满（%d 条，上限 %d 条），暂不接收新消息，请稍后重试。", b.Depth, s.cfg.MaxBacklog)}
}
