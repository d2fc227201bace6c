package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// countingTransport counts stable_token requests and can be made to fail
// them.
type countingTransport struct {
	base   http.RoundTripper
	stable atomic.Int64
	fail   atomic.Bool
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/cgi-bin/stable_token" {
		c.stable.Add(1)
		if c.fail.Load() {
			return nil, errors.New("connection reset by peer")
		}
	}
	return c.base.RoundTrip(r)
}

// memCache is a TokenCache in memory, standing in for the store's.
type memCache struct {
	mu     sync.Mutex
	tokens map[string]wechat.Token
}

func (c *memCache) LoadToken(_ context.Context, appID string) (wechat.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[appID]
	if !ok {
		return wechat.Token{}, wechat.ErrNoToken
	}
	return t, nil
}

func (c *memCache) SaveToken(_ context.Context, appID string, t wechat.Token) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens = map[string]wechat.Token{}
	}
	if t.AccessToken == "" {
		delete(c.tokens, appID)
	} else {
		c.tokens[appID] = t
	}
	return nil
}

type tokenEnv struct {
	*env
	rt *countingTransport
}

// newTokenEnv is a sandbox whose tokens live ttl (0: 7200 s), on a settable
// clock, and a client whose stable_token calls are counted.
func newTokenEnv(t *testing.T, ttl time.Duration) *tokenEnv {
	t.Helper()
	clk := &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	sb, err := sandbox.New(sandbox.Options{AppID: testAppID, AppSecret: testSecret, Now: clk.Now, TokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 256
	rt := &countingTransport{base: base}
	c := &wechat.Client{AppID: testAppID, AppSecret: testSecret, APIBase: srv.URL, OAuthBase: srv.URL,
		HTTP: &http.Client{Transport: rt, Timeout: 10 * time.Second}}
	return &tokenEnv{env: &env{sb: sb, srv: srv, client: c, clock: clk}, rt: rt}
}

func (e *tokenEnv) manager(o wechat.TokenOptions) *wechat.TokenManager {
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	return wechat.NewTokenManager(e.client, o)
}

// apiCall is the "API call" of these tests: get_api_domain_ip checks the
// token like every authenticated endpoint.
func (e *tokenEnv) apiCall(ctx context.Context, token string) error {
	_, err := e.client.APIDomainIP(ctx, token)
	return err
}

func TestTokenManager_ConcurrentColdCallersShareOneFetch(t *testing.T) {
	e := newTokenEnv(t, 0)
	m := e.manager(wechat.TokenOptions{Cache: &memCache{}})
	const n = 1000
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tokens[i], errs[i] = m.Token(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || tokens[i] == "" || tokens[i] != tokens[0] {
			t.Fatalf("caller %d: token %q, err %v (caller 0: %q)", i, tokens[i], errs[i], tokens[0])
		}
	}
	if got := e.rt.stable.Load(); got != 1 {
		t.Errorf("stable_token requests = %d, want 1", got)
	}
	if st := m.Status(); st.Fetches != 1 || !st.HasToken {
		t.Errorf("status = %+v", st)
	}
	if err := e.apiCall(t.Context(), tokens[0]); err != nil {
		t.Errorf("token rejected: %v", err)
	}
}

func TestTokenManager_InvalidationMidBroadcastFetchesOnce(t *testing.T) {
	e := newTokenEnv(t, 0)
	m := e.manager(wechat.TokenOptions{})
	var calls, failures atomic.Int64
	var invalidated atomic.Bool
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			after := 0
			for after < 5 {
				if invalidated.Load() {
					after++
				}
				err := m.Do(t.Context(), e.apiCall)
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for calls.Load() < 400 {
		time.Sleep(time.Millisecond)
	}
	e.sb.InvalidateTokens()
	invalidated.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of %d calls failed; first: %v", f, calls.Load(), firstErr.Load())
	}
	if got := e.rt.stable.Load(); got != 2 {
		t.Errorf("stable_token requests = %d, want 2 (one initial, one after the invalidation)", got)
	}
	if st := m.Status(); st.Fetches != 2 {
		t.Errorf("Status().Fetches = %d, want 2", st.Fetches)
	}
}

func TestTokenManager_LateInvalidateKeepsFreshToken(t *testing.T) {
	e := newTokenEnv(t, 0)
	m := e.manager(wechat.TokenOptions{})
	old, err := m.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.sb.InvalidateTokens()
	m.Invalidate(old)
	fresh, err := m.Token(t.Context())
	if err != nil || fresh == old {
		t.Fatalf("after Invalidate: %q, %v; want a new token", fresh, err)
	}
	m.Invalidate(old) // a caller that failed late with the old token
	again, err := m.Token(t.Context())
	if err != nil || again != fresh {
		t.Errorf("late Invalidate dropped the fresh token: got %q, %v", again, err)
	}
	if got := e.rt.stable.Load(); got != 2 {
		t.Errorf("stable_token requests = %d, want 2", got)
	}
}

func TestTokenManager_PersistedTokenSurvivesRestart(t *testing.T) {
	e := newTokenEnv(t, 0)
	cache := &memCache{}
	first, err := e.manager(wechat.TokenOptions{Cache: cache}).Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	restarted := e.manager(wechat.TokenOptions{Cache: cache})
	got, err := restarted.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != first {
		t.Error("restarted manager did not use the persisted token")
	}
	if n := e.rt.stable.Load(); n != 1 {
		t.Errorf("stable_token requests = %d, want 1 (no fetch after restart)", n)
	}
	if st := restarted.Status(); !st.HasToken || st.Fetches != 0 {
		t.Errorf("restarted status = %+v", st)
	}
	if err := e.apiCall(t.Context(), got); err != nil {
		t.Errorf("persisted token rejected: %v", err)
	}
}

func TestTokenManager_PersistedTokenRejectedIsReplaced(t *testing.T) {
	e := newTokenEnv(t, 0)
	cache := &memCache{}
	if _, err := e.manager(wechat.TokenOptions{Cache: cache}).Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.sb.InvalidateTokens() // while "the app was down"
	restarted := e.manager(wechat.TokenOptions{Cache: cache})
	if err := restarted.Do(t.Context(), e.apiCall); err != nil {
		t.Fatalf("Do with a dead persisted token: %v", err)
	}
	if n := e.rt.stable.Load(); n != 2 {
		t.Errorf("stable_token requests = %d, want 2", n)
	}
	cached, _ := cache.LoadToken(t.Context(), testAppID)
	if err := e.apiCall(t.Context(), cached.AccessToken); err != nil {
		t.Errorf("cache holds a dead token: %v", err)
	}
}

func TestTokenManager_RefreshesAheadOfExpiry(t *testing.T) {
	e := newTokenEnv(t, 10*time.Minute)
	m := e.manager(wechat.TokenOptions{})
	ctx := t.Context()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute) // 5 min left: stable_token would return the same token (docs/wechat.md §1)
	if tok, err := m.Token(ctx); err != nil || tok != first {
		t.Fatalf("with 5 min left: %v; want the cached token", err)
	}
	if n := e.rt.stable.Load(); n != 1 {
		t.Fatalf("stable_token requests = %d before the refresh window, want 1", n)
	}
	e.clock.Advance(70 * time.Second) // 3m50s left, inside DefaultRefreshBefore
	next, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Error("token near expiry was not refreshed before use")
	}
	if n := e.rt.stable.Load(); n != 2 {
		t.Errorf("stable_token requests = %d, want 2", n)
	}
	if st := m.Status(); !st.ExpiresAt.Equal(e.clock.Now().Add(10 * time.Minute)) {
		t.Errorf("ExpiresAt = %v, want now + 10 min", st.ExpiresAt)
	}
	e.clock.Advance(4 * time.Minute) // the first token's end: only the new one works
	if err := e.apiCall(ctx, next); err != nil {
		t.Errorf("refreshed token rejected: %v", err)
	}
}

func TestTokenManager_RefreshFailureKeepsValidToken(t *testing.T) {
	e := newTokenEnv(t, 0)
	var logs bytes.Buffer
	m := e.manager(wechat.TokenOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7200*time.Second - 3*time.Minute)
	e.rt.fail.Store(true)
	if tok, err := m.Token(ctx); err != nil || tok != first {
		t.Fatalf("refresh-ahead failure: %q, %v; want the still-valid token", tok, err)
	}
	st := m.Status()
	if st.LastErrorAt.IsZero() || st.LastErrCode != 0 || st.ConfigProblem || !strings.Contains(st.LastError, "connection reset") {
		t.Errorf("status after a transport failure = %+v", st)
	}
	e.clock.Advance(3 * time.Minute)
	_, err = m.Token(ctx)
	if err == nil || !wechat.IsTemporary(err) {
		t.Errorf("expired token and failing fetch: err = %v, want a temporary error", err)
	}
	if !strings.Contains(logs.String(), "access token fetch failed") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

func TestTokenManager_RunRefreshesInBackground(t *testing.T) {
	e := newTokenEnv(t, 10*time.Minute)
	m := e.manager(wechat.TokenOptions{})
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	waitFetches := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); m.Status().Fetches < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Fetches = %d, want %d", m.Status().Fetches, n)
			}
		}
	}
	stop := run()
	waitFetches(1) // a cold manager fetches at once
	stop()
	first, _ := m.Token(t.Context())

	e.clock.Advance(7 * time.Minute)
	stop = run()
	waitFetches(2)
	stop()
	if tok, _ := m.Token(t.Context()); tok == first {
		t.Error("Run fetched but the token did not change")
	}
	if n := e.rt.stable.Load(); n != 2 {
		t.Errorf("stable_token requests = %d, want 2", n)
	}
}

func TestTokenManager_WrongSecretIsConfigProblem(t *testing.T) {
	e := newTokenEnv(t, 0)
	const wrong = "wrongsecret0123456789abcdef012345"
	e.client.AppSecret = wrong
	var logs bytes.Buffer
	m := e.manager(wechat.TokenOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := m.Token(t.Context())
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 40125 || !we.ConfigProblem() {
		t.Fatalf("err = %v, want *wechat.Error 40125 (config problem)", err)
	}
	called := false
	err = m.Do(t.Context(), func(context.Context, string) error { called = true; return nil })
	if err == nil || called {
		t.Errorf("Do: err %v, fn called %v; want the token error without calling fn", err, called)
	}
	st := m.Status()
	if !st.ConfigProblem || st.LastErrCode != 40125 || st.HasToken || !strings.Contains(st.LastError, "AppSecret") {
		t.Errorf("status = %+v", st)
	}
	for what, s := range map[string]string{"error": err.Error(), "status": st.LastError, "log": logs.String()} {
		if strings.Contains(s, wrong) || strings.Contains(s, testSecret) {
			t.Errorf("%s contains the secret: %s", what, s)
		}
	}
	if !strings.Contains(logs.String(), "errcode=40125") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

// fakeTokenServer answers stable_token from a script and accepts only the
// token in valid on get_api_domain_ip.
type fakeTokenServer struct {
	mu       sync.Mutex
	current  string // what stable_token returns without force
	forced   string // what force_refresh returns (and makes current)
	valid    string
	errcode  int // stable_token answers this error when set
	requests int
	forces   int
	block    chan struct{} // stable_token waits on it when set
	arrived  chan struct{}
}

func (f *fakeTokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		var body struct {
			ForceRefresh bool `json:"force_refresh"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.requests++
		block, arrived := f.block, f.arrived
		f.mu.Unlock()
		if arrived != nil {
			arrived <- struct{}{}
		}
		if block != nil {
			<-block
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.errcode != 0 {
			fmt.Fprintf(w, `{"errcode":%d,"errmsg":"invalid credential rid: 1-2-3"}`, f.errcode)
			return
		}
		if body.ForceRefresh {
			f.forces++
			f.current = f.forced
		}
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, f.current)
	case "/cgi-bin/get_api_domain_ip":
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.URL.Query().Get("access_token") != f.valid {
			fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 1-2-3"}`)
			return
		}
		fmt.Fprint(w, `{"ip_list":["127.0.0.1"]}`)
	default:
		http.NotFound(w, r)
	}
}

func newFakeTokenClient(t *testing.T, f *fakeTokenServer) *wechat.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &wechat.Client{AppID: testAppID, AppSecret: testSecret, APIBase: srv.URL, HTTP: srv.Client()}
}

func TestTokenManager_ForcesRefreshWhenStableTokenReturnsRejected(t *testing.T) {
	// WeChat rejects a token that stable_token still hands out: only
	// force_refresh gets a working one (docs/wechat.md §1).
	f := &fakeTokenServer{current: "A", forced: "B", valid: "B"}
	c := newFakeTokenClient(t, f)
	m := wechat.NewTokenManager(c, wechat.TokenOptions{})
	var used []string
	err := m.Do(t.Context(), func(ctx context.Context, tok string) error {
		used = append(used, tok)
		_, err := c.APIDomainIP(ctx, tok)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(used, ",") != "A,B" {
		t.Errorf("fn called with %v, want [A B]", used)
	}
	if f.requests != 3 || f.forces != 1 {
		t.Errorf("stable_token requests = %d (forced %d), want 3 (forced 1)", f.requests, f.forces)
	}
}

func TestTokenManager_40001FromTokenEndpointIsNotRetried(t *testing.T) {
	// From stable_token itself 40001 means a wrong secret (docs/wechat.md §1).
	f := &fakeTokenServer{errcode: 40001}
	m := wechat.NewTokenManager(newFakeTokenClient(t, f), wechat.TokenOptions{})
	err := m.Do(t.Context(), func(context.Context, string) error {
		t.Error("fn called without a token")
		return nil
	})
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 40001 || we.TokenInvalid() || !we.ConfigProblem() || wechat.IsTokenInvalid(err) {
		t.Fatalf("err = %v; want 40001 as a config problem, not TokenInvalid", err)
	}
	if !strings.Contains(we.Explain(), "AppSecret") {
		t.Errorf("Explain() = %q", we.Explain())
	}
	if f.requests != 1 {
		t.Errorf("stable_token requests = %d, want 1", f.requests)
	}
	if !m.Status().ConfigProblem {
		t.Error("Status().ConfigProblem = false")
	}
}

func TestTokenManager_FirstCallerGivingUpDoesNotCancelFetch(t *testing.T) {
	f := &fakeTokenServer{current: "A", valid: "A", block: make(chan struct{}), arrived: make(chan struct{}, 1)}
	m := wechat.NewTokenManager(newFakeTokenClient(t, f), wechat.TokenOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error)
	go func() {
		_, err := m.Token(ctx)
		errc <- err
	}()
	<-f.arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	close(f.block)
	for deadline := time.Now().Add(5 * time.Second); !m.Status().HasToken; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fetch stopped when its first caller gave up")
		}
	}
	if tok, err := m.Token(t.Context()); err != nil || tok != "A" {
		t.Errorf("Token = %q, %v", tok, err)
	}
	if f.requests != 1 {
		t.Errorf("stable_token requests = %d, want 1", f.requests)
	}
}

// A broken configuration must not turn every queued send into a token call:
// after a failed fetch, callers get its error for a while without fetching.
func TestTokenManager_FailedFetchCoolsDown(t *testing.T) {
	e := newTokenEnv(t, 0)
	e.client.AppSecret = "wrongsecret0123456789abcdef012345"
	m := e.manager(wechat.TokenOptions{})
	for range 50 {
		if _, err := m.Token(t.Context()); err == nil {
			t.Fatal("got a token with a wrong secret")
		}
	}
	if n := e.rt.stable.Load(); n != 1 {
		t.Fatalf("%d stable_token calls for 50 callers within the cool-down, want 1", n)
	}
	e.client.AppSecret = testSecret // the admin fixes the configuration
	e.clock.Advance(31 * time.Second)
	if _, err := m.Token(t.Context()); err != nil {
		t.Fatalf("after the cool-down: %v", err)
	}
	if n := e.rt.stable.Load(); n != 2 {
		t.Errorf("%d stable_token calls, want 2", n)
	}
}
