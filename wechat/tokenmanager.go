package wechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// ErrNoToken is what a TokenCache answers when it holds no token.
var ErrNoToken = errors.New("wechat: no cached token")

// TokenCache persists the access token across restarts; the store
// implements it with SQLite (wechat knows nothing of the database).
type TokenCache interface {
	LoadToken(ctx context.Context, appID string) (Token, error) // ErrNoToken when none
	SaveToken(ctx context.Context, appID string, t Token) error // a zero Token (empty AccessToken) clears it
}

// DefaultRefreshBefore is when the manager refreshes a token ahead of its
// expiry. stable_token hands out a new token only in the last 5 minutes of
// the current one and returns the same token before that (docs/wechat.md §1), so an
// earlier refresh would gain nothing; 4 minutes leaves a minute for clock
// skew and latency, and still 4 minutes for retries while the old token
// keeps working.
const DefaultRefreshBefore = 4 * time.Minute

const (
	// fetchTimeout bounds one shared fetch (cache load, up to two
	// stable_token calls, cache save), whatever the callers' contexts.
	fetchTimeout = 30 * time.Second
	// expiryMargin: a token with less left is treated as expired, so that
	// a call made with it does not arrive after its end.
	expiryMargin = 30 * time.Second
	// sameTokenRetry spaces refresh attempts when stable_token keeps
	// returning a token inside the refresh window (WeChat's clock says it
	// has 5 minutes or more left, docs/wechat.md §1).
	sameTokenRetry = 30 * time.Second
	// forceGap spaces our force_refresh calls: WeChat allows 20 a day, 30 s
	// apart, and ignores one that comes sooner (docs/wechat.md §1).
	forceGap = time.Minute
	// Run's backoff after failed fetches, and its longest sleep (it
	// re-reads the clock at least this often, e.g. after a suspend).
	minBackoff = 2 * time.Second
	maxBackoff = 5 * time.Minute
	maxSleep   = time.Minute
)

// TokenOptions configure a TokenManager; every field is optional.
type TokenOptions struct {
	Cache         TokenCache    // nil: memory only
	Log           *slog.Logger  // nil: discard
	RefreshBefore time.Duration // 0: DefaultRefreshBefore
	Now           func() time.Time
	// OnConflict learns of signs that another system refreshes this app's
	// token (conflict.go); called outside the manager's lock.
	OnConflict func(TokenConflict)
}

// TokenStatus is the manager's state for the dashboard. Fetches counts
// stable_token calls, failed ones included; LastFetchAt is the last that
// succeeded. The LastErr* fields keep the last failure even after a later
// success (compare LastErrorAt with LastFetchAt); ConfigProblem is about the
// latest fetch only.
type TokenStatus struct {
	HasToken    bool
	ExpiresAt   time.Time
	Fetches     int64
	LastFetchAt time.Time
	LastErrCode int    // WeChat's errcode, 0 for transport and other errors
	LastError   string // Chinese explanation and errmsg; never the secret
	LastErrorAt time.Time
	// ConfigProblem: the last fetch failed with an error only an
	// administrator can fix (40013, 40125, 40164, 89503, …, docs/wechat.md §6).
	ConfigProblem bool
	// EgressIP: the last fetch failed with 40164, and this is the IP
	// WeChat saw the call come from (whitelist.go): the one to whitelist.
	EgressIP string
}

// TokenManager keeps the one access token of an app (docs/wechat.md §1): cached in memory
// and in a TokenCache, refreshed ahead of expiry, fetched with stable_token
// by one caller at a time however many ask, dropped and fetched again once
// when a call says it is invalid. It is safe for concurrent use.
type TokenManager struct {
	c             *Client
	cache         TokenCache
	log           *slog.Logger
	refreshBefore time.Duration
	now           func() time.Time

	mu        sync.Mutex
	tok       Token
	refreshAt time.Time // when to refresh tok ahead of its expiry
	rejected  string    // the last token a call rejected
	lastForce time.Time
	flight    *flight // the fetch in progress, if any
	status    TokenStatus
	conflicts conflictState // conflict.go

	// After a failed fetch, callers get its error until failUntil instead of
	// fetching again: a broken configuration must not turn every queued
	// send into a token call (the daily quota is 2,000, docs/wechat.md §1).
	failErr   error
	failUntil time.Time
}

// Cool-downs after a failed fetch.
const (
	configFailCooldown = 30 * time.Second // wrong appid/secret, IP not whitelisted
	failCooldown       = 2 * time.Second  // anything else (-1, network)
)

// flight is one shared fetch; done is closed when tok and err are set.
type flight struct {
	done chan struct{}
	tok  Token
	err  error
}

// NewTokenManager returns a manager for c's app.
func NewTokenManager(c *Client, o TokenOptions) *TokenManager {
	m := &TokenManager{c: c, cache: o.Cache, log: o.Log, refreshBefore: o.RefreshBefore, now: o.Now}
	m.conflicts.on = o.OnConflict
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.refreshBefore <= 0 {
		m.refreshBefore = DefaultRefreshBefore
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Token returns a valid access token: from memory, else from the cache,
// else fetched. Concurrent callers share one fetch, which goes on if they
// give up. Inside the refresh window a failed refresh is not an error while
// the current token still works.
func (m *TokenManager) Token(ctx context.Context) (string, error) {
	m.mu.Lock()
	if m.freshLocked() {
		t := m.tok.AccessToken
		m.mu.Unlock()
		return t, nil
	}
	m.mu.Unlock()
	t, err := m.refresh(ctx)
	if err != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if ctx.Err() == nil && m.usableLocked() {
			return m.tok.AccessToken, nil
		}
		return "", err
	}
	return t.AccessToken, nil
}

// Invalidate drops the current token if it is still rejected, the token an
// API call refused (40001/40014/42001, docs/wechat.md §1). A caller that fails late with an
// older token does not drop the fresh one fetched meanwhile.
func (m *TokenManager) Invalidate(rejected string) {
	if rejected == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.tok.AccessToken {
	case rejected:
		m.tok, m.refreshAt = Token{}, time.Time{}
		m.rejected = rejected
		m.log.Info("wechat: access token rejected by WeChat; dropped", "app", m.c.AppID)
	case "":
		m.rejected = rejected
	}
}

// Do runs fn with a token. If fn fails because WeChat says the token is
// invalid, Do drops it, gets a fresh one (one fetch shared by all callers)
// and runs fn once more (docs/wechat.md §1, §6). Errors from fn are returned as they are;
// an error getting the token comes back wrapped, with *Error inside.
func (m *TokenManager) Do(ctx context.Context, fn func(ctx context.Context, token string) error) error {
	tok, err := m.Token(ctx)
	if err != nil {
		return err
	}
	err = fn(ctx, tok)
	if !IsTokenInvalid(err) {
		return err
	}
	m.noteRejected(tok, err) // conflict.go
	m.Invalidate(tok)
	if tok, err = m.Token(ctx); err != nil {
		return err
	}
	return fn(ctx, tok)
}

// Run refreshes the token ahead of its expiry until ctx is done, so that
// senders rarely wait for a fetch. Failures are retried with a backoff from
// 2 s up to 5 min (and logged).
func (m *TokenManager) Run(ctx context.Context) {
	var backoff time.Duration
	for {
		m.mu.Lock()
		wait := time.Duration(0)
		if m.tok.AccessToken != "" {
			wait = m.refreshAt.Sub(m.now())
		}
		m.mu.Unlock()
		if wait <= 0 {
			_, err := m.refresh(ctx)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				backoff = 0
				continue
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			wait = backoff
		}
		t := time.NewTimer(min(wait, maxSleep))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Status reports the manager's state for the dashboard.
func (m *TokenManager) Status() TokenStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.HasToken = m.tok.AccessToken != "" && m.now().Before(m.tok.ExpiresAt)
	s.ExpiresAt = m.tok.ExpiresAt
	return s
}

// freshLocked: the token needs no refresh yet.
func (m *TokenManager) freshLocked() bool {
	return m.tok.AccessToken != "" && m.now().Before(m.refreshAt)
}

// usableLocked: the token may be refreshed but still works.
func (m *TokenManager) usableLocked() bool {
	return m.tok.AccessToken != "" && m.now().Before(m.tok.ExpiresAt.Add(-expiryMargin))
}

// setLocked makes t current and decides when to refresh it.
func (m *TokenManager) setLocked(t Token) {
	now := m.now()
	m.tok = t
	m.conflicts.held = t
	m.refreshAt = t.ExpiresAt.Add(-m.refreshBefore)
	if !m.refreshAt.After(now) {
		m.refreshAt = now.Add(sameTokenRetry)
	}
}

// refresh joins the fetch in progress or starts one, and waits for it or
// for ctx. The fetch itself runs detached from ctx: the first caller giving
// up must not fail the others.
func (m *TokenManager) refresh(ctx context.Context) (Token, error) {
	m.mu.Lock()
	if m.failErr != nil && m.now().Before(m.failUntil) {
		err := m.failErr
		m.mu.Unlock()
		return Token{}, err
	}
	f := m.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		m.flight = f
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			defer cancel()
			f.tok, f.err = m.load(fctx)
			m.mu.Lock()
			m.flight = nil
			m.failErr = nil
			if f.err != nil && fctx.Err() == nil {
				cool := failCooldown
				var we *Error
				if errors.As(f.err, &we) && we.ConfigProblem() {
					cool = configFailCooldown
				}
				m.failErr, m.failUntil = f.err, m.now().Add(cool)
			}
			m.mu.Unlock()
			close(f.done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// load is the body of a shared fetch: the token in memory if another fetch
// just renewed it, else a usable one from the cache (another instance may
// have renewed it), else a fetched one, saved to the cache.
func (m *TokenManager) load(ctx context.Context) (Token, error) {
	m.mu.Lock()
	if m.freshLocked() {
		t := m.tok
		m.mu.Unlock()
		return t, nil
	}
	m.mu.Unlock()

	if m.cache != nil {
		t, err := m.cache.LoadToken(ctx, m.c.AppID)
		switch {
		case err == nil:
			m.mu.Lock()
			ok := t.AccessToken != "" && t.AccessToken != m.rejected &&
				m.now().Before(t.ExpiresAt.Add(-m.refreshBefore))
			if ok {
				m.setLocked(t)
			}
			m.mu.Unlock()
			if ok {
				return t, nil
			}
		case !errors.Is(err, ErrNoToken):
			m.log.Warn("wechat: load cached access token", "app", m.c.AppID, "err", err)
		}
	}

	t, err := m.fetch(ctx)
	if err != nil {
		return Token{}, err
	}
	if m.cache != nil {
		if err := m.cache.SaveToken(ctx, m.c.AppID, t); err != nil {
			m.log.Warn("wechat: save access token", "app", m.c.AppID, "err", err)
		}
	}
	return t, nil
}

// fetch calls stable_token (docs/wechat.md §1). If WeChat returns the very token a call
// just rejected (it still thinks that token valid), fetch forces a new one,
// at most once a minute since force_refresh is limited; should the forced
// call fail, the unforced token is kept.
func (m *TokenManager) fetch(ctx context.Context) (Token, error) {
	t, err := m.stableToken(ctx, false)
	if err != nil {
		return Token{}, err
	}
	m.noteReplaced(t) // conflict.go
	m.mu.Lock()
	force := t.AccessToken == m.rejected && m.now().Sub(m.lastForce) >= forceGap
	if force {
		m.lastForce = m.now()
	}
	m.mu.Unlock()
	if force {
		m.log.Warn("wechat: stable_token returned the rejected token; forcing a refresh", "app", m.c.AppID)
		if ft, err := m.stableToken(ctx, true); err == nil {
			t = ft
		}
	}
	m.mu.Lock()
	m.setLocked(t)
	m.mu.Unlock()
	return t, nil
}

// stableToken makes one stable_token call and records it in the status.
func (m *TokenManager) stableToken(ctx context.Context, force bool) (Token, error) {
	start := m.now()
	t, err := m.c.StableToken(ctx, force)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Fetches++
	if err != nil {
		m.recordErrorLocked(err)
		return Token{}, fmt.Errorf("wechat: get access token: %w", err)
	}
	// Measure the lifetime from before the request, on the manager's clock.
	t.ExpiresAt = start.Add(time.Duration(t.ExpiresIn) * time.Second)
	m.status.LastFetchAt = m.now()
	m.status.ConfigProblem = false
	m.log.Info("wechat: access token fetched", "app", m.c.AppID, "force", force,
		"expires_in", t.ExpiresIn)
	return t, nil
}

func (m *TokenManager) recordErrorLocked(err error) {
	s := &m.status
	s.LastErrCode, s.ConfigProblem, s.EgressIP = 0, false, ""
	s.LastError = "无法获取 access_token：" + redact(err.Error(), m.c.AppSecret)
	var we *Error
	if errors.As(err, &we) {
		s.LastErrCode = we.Code
		s.ConfigProblem = we.ConfigProblem()
		s.EgressIP = we.CallerIP()
		s.LastError = we.Explain() + "（" + redact(we.Msg, m.c.AppSecret) + "）"
	}
	s.LastErrorAt = m.now()
	m.log.Warn("wechat: access token fetch failed", "app", m.c.AppID,
		"errcode", s.LastErrCode, "config_problem", s.ConfigProblem, "err", s.LastError)
}
