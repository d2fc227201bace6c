package sandbox

import "time"

// rivalState is the other system of Faults.RivalRefreshEvery: it holds
// the same AppSecret and forces stable_token refreshes on a schedule,
// replacing the token every other holder of it uses (WeChat's
// getStableAccessToken page: force_refresh invalidates the previous stable
// token, which stays valid 5 more minutes).
type rivalState struct {
	every  time.Duration
	last   time.Time // the schedule's last refresh (or its start)
	Forced int       // refreshes it made
}

// startRival (re)starts the schedule at the sandbox's now.
func (s *Sandbox) startRival(every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if every != s.rival.every {
		s.rival.every, s.rival.last = every, s.opts.Now()
	}
}

// rivalLocked makes the refreshes the schedule owes by now, each at its
// scheduled time (lazily: the sandbox has no timers). The 30-second gap
// and daily limit of force_refresh bind the rival too.
func (s *Sandbox) rivalLocked(now time.Time) {
	r := &s.rival
	if r.every <= 0 {
		return
	}
	if n := now.Sub(r.last) / r.every; n > 50 {
		r.last = r.last.Add((n - 50) * r.every) // a long pause: only the recent ones matter
	}
	for at := r.last.Add(r.every); !at.After(now); at = r.last.Add(r.every) {
		r.last = at
		if (!s.lastForce.IsZero() && at.Sub(s.lastForce) < forcedMinInterval) || !s.forceDay.inc(at, forcedDailyLimit) {
			continue
		}
		s.lastForce = at
		if s.stable != nil && s.stable.superseded.IsZero() {
			s.stable.superseded = at
		}
		s.stable = s.mintLocked(at)
		r.Forced++
	}
}

// RivalRefreshes is how many forced refreshes the simulated other system made.
func (s *Sandbox) RivalRefreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rival.Forced
}
