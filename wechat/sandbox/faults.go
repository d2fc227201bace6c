package sandbox

import (
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Faults are failures injected into the API so that tests and benchmarks
// can see how the app copes with WeChat misbehaving. The zero value injects
// nothing.
type Faults struct {
	// Latency delays every /cgi-bin API call. It is waited out before the
	// sandbox takes any lock, so concurrent calls overlap like real ones.
	Latency time.Duration
	// ErrorRate is the share (0–1) of message sends answered with -1
	// "system error" (docs/wechat.md §6: retry with backoff).
	ErrorRate float64
	// HTTP500Rate is the share (0–1) of message sends answered with HTTP
	// status 500 and no JSON (docs/wechat.md §6: transient).
	HTTP500Rate float64
	// PerSecondLimit, if positive, is how many calls of each message API
	// (template send, custom send; counted separately, across all users)
	// are admitted per second of the sandbox clock; the rest answer 45011.
	PerSecondLimit int
	// DailyQuota, if positive, is how many calls of each message API are
	// admitted per Beijing day; the rest answer 45009 until midnight Beijing
	// time or ResetQuota (docs/wechat.md §6).
	DailyQuota int
	// ReceiptFirst pushes a fresh template send's TEMPLATESENDJOBFINISH
	// before the send is answered, and answers only once the app has
	// answered the push (or every attempt failed): the app learns the
	// outcome before the msgid it reports on. Real WeChat pushes the
	// receipt on its own connection, so it can arrive in either order; by
	// default the sandbox pushes it after answering, concurrently.
	ReceiptFirst bool
	// RivalRefreshEvery, if positive, plays another system holding the
	// same AppSecret that calls stable_token with force_refresh this often
	// (sandbox clock, from when the fault is set): the token the app holds
	// is replaced and answers 40001 five minutes later (rival.go).
	RivalRefreshEvery time.Duration
	// IPWhitelist, if not empty, is the account's API IP whitelist,
	// comma-separated (a string keeps Faults comparable): the token
	// endpoints refuse any other caller with 40164, naming the IP they saw
	// (whitelist.go).
	IPWhitelist string
}

// limitedAPI names the APIs that faults and quotas apply to.
type limitedAPI int

const (
	apiTemplateSend limitedAPI = iota
	apiCustomSend
	numLimitedAPIs
)

// apiLimit counts one API's calls for PerSecondLimit and DailyQuota.
type apiLimit struct {
	sec   int64 // the second (Unix) inSec counts
	inSec int
	day   dayCounter
}

// SetFaults replaces the fault settings; it is safe while calls are in
// flight (each call reads the settings once). Rates are clamped to 0–1 and
// negative values mean none.
func (s *Sandbox) SetFaults(f Faults) {
	f.Latency = max(f.Latency, 0)
	f.ErrorRate = clampRate(f.ErrorRate)
	f.HTTP500Rate = clampRate(f.HTTP500Rate)
	f.PerSecondLimit = max(f.PerSecondLimit, 0)
	f.DailyQuota = max(f.DailyQuota, 0)
	f.RivalRefreshEvery = max(f.RivalRefreshEvery, 0)
	s.startRival(f.RivalRefreshEvery)
	s.faults.Store(&f)
}

func clampRate(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return min(r, 1)
}

// Faults returns the current fault settings.
func (s *Sandbox) Faults() Faults { return *s.faults.Load() }

// ResetQuota clears today's call counts of every API, like
// POST /cgi-bin/clear_quota (docs/wechat-details.md §1.1), so calls refused with 45009
// succeed again.
func (s *Sandbox) ResetQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenDay, s.forceDay = dayCounter{}, dayCounter{}
	for i := range s.limits {
		s.limits[i].day = dayCounter{}
	}
	s.changedLocked(recTokens | recCounters)
}

// sleepLatency waits out the injected latency; false if the caller went
// away meanwhile.
func (s *Sandbox) sleepLatency(r *http.Request) bool {
	d := s.faults.Load().Latency
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// injectFault answers the call with HTTP 500 or -1 when the dice say so,
// and reports whether it did.
func (s *Sandbox) injectFault(w http.ResponseWriter, f *Faults) bool {
	if f.HTTP500Rate > 0 && rand.Float64() < f.HTTP500Rate {
		s.statsMu.Lock()
		s.http500s++
		s.statsMu.Unlock()
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return true
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		writeJSON(w, s.apiError(-1))
		return true
	}
	return false
}

// admitLocked counts a call of api at now against the per-second limit and
// the daily quota: 0 when admitted, else 45011 or 45009. Calls are counted
// every day, so a quota set at noon counts the morning's calls too.
func (s *Sandbox) admitLocked(api limitedAPI, f *Faults, now time.Time) int {
	l := &s.limits[api]
	if f.PerSecondLimit > 0 {
		if sec := now.Unix(); l.sec != sec {
			l.sec, l.inSec = sec, 0
		}
		if l.inSec >= f.PerSecondLimit {
			return 45011
		}
		l.inSec++
	}
	limit := math.MaxInt
	if f.DailyQuota > 0 {
		limit = f.DailyQuota
	}
	s.changedLocked(recCounters)
	if !l.day.inc(now, limit) {
		return 45009
	}
	return 0
}

// Stats are the sandbox's counters, for tests and benchmarks.
type Stats struct {
	TokenFetches       int // successful GET /cgi-bin/token
	StableTokenFetches int // successful POST /cgi-bin/stable_token
	TemplateSends      int // template messages delivered (client_msg_id repeats excluded)
	CustomSends        int // customer-service messages delivered
	QRCodesCreated     int // successful POST /cgi-bin/qrcode/create
	HTTP500s           int // injected HTTP 500 answers
	Errors             map[int]int
}

// Stats returns a snapshot of the counters. Errors counts every errcode
// the API answered (injected -1 included), by code.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st.HTTP500s = s.http500s
	st.Errors = make(map[int]int, len(s.errors))
	for c, n := range s.errors {
		st.Errors[c] = n
	}
	return st
}
