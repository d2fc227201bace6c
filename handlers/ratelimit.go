package handlers

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxpush/wxpush/views"
)

// failureWindow counts failures per key over a sliding window: a key is
// blocked while it has limit failures younger than window. Memory is
// bounded by limit timestamps per key, and keys whose failures have all
// aged out are swept once the map grows.
type failureWindow struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	fails  map[string][]time.Time // oldest first
}

func newFailureWindow(limit int, window time.Duration) *failureWindow {
	return &failureWindow{limit: limit, window: window, fails: map[string][]time.Time{}}
}

// blocked reports how long key must wait before its next attempt; 0 when
// it may try now.
func (f *failureWindow) blocked(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.liveLocked(key, now)
	if len(ts) < f.limit {
		return 0
	}
	// The oldest failure that still counts must age out.
	return ts[len(ts)-f.limit].Add(f.window).Sub(now)
}

// fail records a failure for key.
func (f *failureWindow) fail(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
// client address and per account name. A successful login clears the
// account's count (not the address's: one right password must not buy an
// address ten more guesses at other accounts).
type loginLimiter struct {
	byIP      *failureWindow
	byAccount *failureWindow
}

func newLoginLimiter(perIP, perAccount int, window time.Duration) *loginLimiter {
	return &loginLimiter{byIP: newFailureWindow(perIP, window), byAccount: newFailureWindow(perAccount, window)}
}

// wait is how long the client of r must wait before trying to log in as
// name; 0 when it may try now.
func (l *loginLimiter) wait(r *http.Request, name string, now time.Time) time.Duration {
	return max(l.byIP.blocked(ipKey(ClientIP(r)), now), l.byAccount.blocked(accountKey(name), now))
}

func (l *loginLimiter) failed(r *http.Request, name string, now time.Time) {
	l.byIP.fail(ipKey(ClientIP(r)), now)
	if name != "" {
		l.byAccount.fail(accountKey(name), now)
	}
}

func (l *loginLimiter) succeeded(name string) { l.byAccount.reset(accountKey(name)) }

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

// loginTooMany answers a throttled login: 429 with Retry-After and the
// login page saying when to come back.
func (s *Server) loginTooMany(w http.ResponseWriter, r *http.Request, form views.AuthForm, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	mins := max(1, int(math.Ceil(wait.Minutes())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	form.Error = fmt.Sprintf("尝试次数过多，请 %d 分钟后再试。", mins)
	s.logger(r.Context()).Warn("login throttled", "client_ip", ClientIP(r), "retry_after_s", secs)
	s.render(w, r, http.StatusTooManyRequests, views.LoginPage(s.page(r, "登录"), form))
}
