package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// failureWindow counts failures per key over a sliding window: a key is
// blocked while its failures younger than window, plus its attempts still
// under way, reach limit. Counting the attempts under way is what holds
// against a burst: 40 guesses sent at once all pass a check that only
// counts failures already recorded. Memory is bounded by limit timestamps
// per key, and keys whose failures have all aged out are swept once the
// map grows.
type failureWindow struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	fails   map[string][]time.Time // oldest first
	pending map[string]int         // attempts reserved and not yet settled
}

func newFailureWindow(limit int, window time.Duration) *failureWindow {
	return &failureWindow{limit: limit, window: window, fails: map[string][]time.Time{}, pending: map[string]int{}}
}

// blocked reports how long key must wait before its next attempt; 0 when
// it may try now.
func (f *failureWindow) blocked(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blockedLocked(key, now)
}

// blockedLocked counts the attempts under way as failures made now: the
// wait it reports is right if they fail, and only too long if they do not.
func (f *failureWindow) blockedLocked(key string, now time.Time) time.Duration {
	ts := f.liveLocked(key, now)
	n := len(ts) + f.pending[key]
	if n < f.limit {
		return 0
	}
	// The oldest failure that still counts must age out.
	if i := n - f.limit; i < len(ts) {
		return ts[i].Add(f.window).Sub(now)
	}
	return f.window
}

// reserve takes a place for one attempt of key, counted as under way until
// settle; when key is blocked it takes none and says how long to wait.
func (f *failureWindow) reserve(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if wait := f.blockedLocked(key, now); wait > 0 {
		return wait
	}
	f.pending[key]++
	return 0
}

// settle ends an attempt reserve let through: a failure is recorded at
// now; otherwise the attempt no longer counts.
func (f *failureWindow) settle(key string, now time.Time, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending[key]--; f.pending[key] <= 0 {
		delete(f.pending, key)
	}
	if failed {
		f.failLocked(key, now)
	}
}

// take records one attempt of key at once (it counts like a failure),
// unless key is blocked; then it records nothing and says how long to wait.
func (f *failureWindow) take(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if wait := f.blockedLocked(key, now); wait > 0 {
		return wait
	}
	f.failLocked(key, now)
	return 0
}

func (f *failureWindow) failLocked(key string, now time.Time) {
	ts := append(f.liveLocked(key, now), now)
	if len(ts) > f.limit {
		ts = ts[len(ts)-f.limit:]
	}
	f.fails[key] = ts
	if len(f.fails) > 10_000 {
		f.sweepLocked(now)
	}
}

// reset forgets key's failures.
func (f *failureWindow) reset(key string) {
	f.mu.Lock()
	delete(f.fails, key)
	f.mu.Unlock()
}

// liveLocked drops key's failures older than the window.
func (f *failureWindow) liveLocked(key string, now time.Time) []time.Time {
	ts := f.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= f.window {
		i++
	}
	if i == len(ts) {
		delete(f.fails, key)
		return nil
	}
	if i > 0 {
		ts = append(ts[:0], ts[i:]...)
		f.fails[key] = ts
	}
	return ts
}

func (f *failureWindow) sweepLocked(now time.Time) {
	for k := range f.fails {
		f.liveLocked(k, now)
	}
	if len(f.fails) > 100_000 {
		// A flood of distinct keys: forget them rather than grow without
		// bound (the per-IP limit then restarts, which beats running out
		// of memory).
		clear(f.fails)
	}
}

// loginLimiter slows password guessing: failed logins are counted per
// client address and per account name, and attempts under way count
// until they are settled. A successful login clears the account's count
// (not the address's: one right password must not buy an address ten more
// guesses at other accounts). Apart from the counts, at most a few
// password checks (bcrypt, tens of milliseconds of CPU each) run at once,
// so a flood of logins from many addresses queues instead of pinning
// every core.
type loginLimiter struct {
	byIP      *failureWindow
	byAccount *failureWindow
	hashing   chan struct{} // one token per password check under way
	queueWait time.Duration // how long a login waits for a free check
}

func newLoginLimiter(perIP, perAccount int, window time.Duration, concurrent int, queueWait time.Duration) *loginLimiter {
	return &loginLimiter{
		byIP:      newFailureWindow(perIP, window),
		byAccount: newFailureWindow(perAccount, window),
		hashing:   make(chan struct{}, concurrent),
		queueWait: queueWait,
	}
}

// loginRefused is why reserve did not let a login attempt through.
type loginRefused struct {
	Wait time.Duration // when to try again
	Busy bool          // too many password checks at once, not too many failures
}

func (e *loginRefused) Error() string {
	if e.Busy {
		return "login: too many password checks at once"
	}
	return fmt.Sprintf("login: too many failures; retry in %v", e.Wait)
}

// reserve lets one login attempt of the client of r, as name, through to
// the password check, or refuses it (*loginRefused). Once through, the
// attempt counts against the address and the account until done reports
// the check's outcome: nil (the password was right), an error matching
// store.ErrBadCredentials (a failure), or any other error (neither).
// done must be called exactly once.
func (l *loginLimiter) reserve(r *http.Request, name string, now time.Time) (done func(authErr error), refused error) {
	ip := ipKey(ClientIP(r))
	if wait := l.byIP.reserve(ip, now); wait > 0 {
		return nil, &loginRefused{Wait: wait}
	}
	acct := accountKey(name)
	if name != "" {
		if wait := l.byAccount.reserve(acct, now); wait > 0 {
			l.byIP.settle(ip, now, false)
			return nil, &loginRefused{Wait: wait}
		}
	}
	settle := func(at time.Time, failed bool) {
		l.byIP.settle(ip, at, failed)
		if name != "" {
			l.byAccount.settle(acct, at, failed)
		}
	}
	timer := time.NewTimer(l.queueWait)
	defer timer.Stop()
	select {
	case l.hashing <- struct{}{}:
	case <-timer.C:
		settle(now, false)
		return nil, &loginRefused{Wait: loginBusyRetry, Busy: true}
	case <-r.Context().Done():
		settle(now, false)
		return nil, &loginRefused{Wait: loginBusyRetry, Busy: true}
	}
	return func(authErr error) {
		<-l.hashing
		failed := errors.Is(authErr, store.ErrBadCredentials)
		settle(now, failed)
		if authErr == nil && name != "" {
			l.byAccount.reset(acct)
		}
	}, nil
}

// loginBusyRetry is the Retry-After of a login refused because too many
// password checks were under way: they take tens of milliseconds each.
const loginBusyRetry = 5 * time.Second

// accountKey matches the users table's name COLLATE NOCASE. Names are at
// most 32 characters; anything longer is cut so a key stays small.
func accountKey(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}

// ipKey counts an IPv6 client by its /64, which one subscriber usually
// holds whole; an IPv4 client by its address.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// loginTooMany answers a refused login: 429 with Retry-After and the
// login page saying when to come back, or, when the server was too busy
// checking other passwords, 503 asking to retry in a few seconds.
func (s *Server) loginTooMany(w http.ResponseWriter, r *http.Request, form views.AuthForm, refused error) {
	var lr *loginRefused
	if !errors.As(refused, &lr) {
		s.renderError(w, r, refused)
		return
	}
	secs := int(math.Ceil(lr.Wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if lr.Busy {
		form.Error = "登录的人太多，服务器正忙，请几秒后再试。"
		s.logger(r.Context()).Warn("login refused: too many password checks at once", "client_ip", ClientIP(r))
		s.render(w, r, http.StatusServiceUnavailable, views.LoginPage(s.page(r, "登录"), form))
		return
	}
	mins := max(1, int(math.Ceil(lr.Wait.Minutes())))
	form.Error = fmt.Sprintf("尝试次数过多，请 %d 分钟后再试。", mins)
	s.logger(r.Context()).Warn("login throttled", "client_ip", ClientIP(r), "retry_after_s", secs)
	s.render(w, r, http.StatusTooManyRequests, views.LoginPage(s.page(r, "登录"), form))
}

// signupThrottled counts a sign-up POST from the client of r (every one:
// a 409 tells whether a name is taken, so probing names counts too). Past
// SignupsPerIP per SignupWindow it answers 429 with Retry-After and
// reports true.
func (s *Server) signupThrottled(w http.ResponseWriter, r *http.Request) bool {
	wait := s.signupLimit.take(ipKey(ClientIP(r)), s.Now())
	if wait <= 0 {
		return false
	}
	secs := int(math.Ceil(wait.Seconds()))
	mins := max(1, int(math.Ceil(wait.Minutes())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.logger(r.Context()).Warn("signup throttled", "client_ip", ClientIP(r), "retry_after_s", secs)
	s.render(w, r, http.StatusTooManyRequests, views.SignupPage(s.page(r, "注册"), views.AuthForm{
		Name:         strings.TrimSpace(r.PostFormValue("name")),
		SignupOpen:   true,
		Error:        fmt.Sprintf("注册尝试过于频繁，请 %d 分钟后再试。", mins),
		PasswordRule: service.PasswordRule,
	}))
	return true
}
