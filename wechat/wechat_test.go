package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "s3cr3t0123456789abcdef0123456789"
)

// clock is a settable time source for the sandbox.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *wechat.Client
	clock  *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	sb, err := sandbox.New(sandbox.Options{AppID: testAppID, AppSecret: testSecret, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &env{sb: sb, srv: srv, clock: clk, client: &wechat.Client{
		AppID: testAppID, AppSecret: testSecret, APIBase: srv.URL, OAuthBase: srv.URL, HTTP: srv.Client(),
	}}
}

// wantCode asserts err is a *wechat.Error with code, whose errmsg ends with
// a WeChat-like request id.
func wantCode(t *testing.T, err error, code int) *wechat.Error {
	t.Helper()
	var we *wechat.Error
	if !errors.As(err, &we) {
		t.Fatalf("err = %v (%T), want *wechat.Error %d", err, err, code)
	}
	if we.Code != code {
		t.Fatalf("errcode = %d (%s), want %d", we.Code, we.Msg, code)
	}
	if !regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`).MatchString(we.Msg) {
		t.Errorf("errmsg %q has no rid suffix", we.Msg)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
	return we
}

func TestSignature(t *testing.T) {
	tests := []struct{ token, timestamp, nonce, want string }{
		{"789", "456", "123", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{"spamtest", "1409735669", "1320562132", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"},
		{"AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"},
		{"AAAAA", "1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
		{"AAAAA", "1714112445", "415670741", "6c5c811b55cc85e0e1b54100749188c20beb3f5d"},
		{"test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
		{"token1234567890", "1458864389", "2066297436", "f9c725922f6844701ba71e98031978e40023c09f"},
	}
	for _, tt := range tests {
		if got := wechat.Signature(tt.token, tt.timestamp, tt.nonce); got != tt.want {
			t.Errorf("Signature(%q, %q, %q) = %s, want %s", tt.token, tt.timestamp, tt.nonce, got, tt.want)
		}
		if !wechat.VerifySignature(tt.token, tt.timestamp, tt.nonce, tt.want) {
			t.Errorf("VerifySignature(%q, %q, %q) rejected the right signature", tt.token, tt.timestamp, tt.nonce)
		}
	}
}

func TestVerifySignature_RejectsWrong(t *testing.T) {
	tests := []struct{ name, token, timestamp, nonce, sig string }{
		{"last digit", "test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"},
		{"wrong token", "other", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
		{"empty", "test", "1410685589", "test", ""},
		{"truncated", "test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if wechat.VerifySignature(tt.token, tt.timestamp, tt.nonce, tt.sig) {
				t.Error("accepted a wrong signature")
			}
		})
	}
}

func TestAuthorizeURL_ExactOrder(t *testing.T) {
	c := &wechat.Client{AppID: "wx123", OAuthBase: "https://open.weixin.qq.com"}
	got := c.AuthorizeURL("https://example.com/bind/callback?x=1", "snsapi_userinfo", "abc123")
	want := "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123" +
		"&redirect_uri=https%3A%2F%2Fexample.com%2Fbind%2Fcallback%3Fx%3D1" +
		"&response_type=code&scope=snsapi_userinfo&state=abc123#wechat_redirect"
	if got != want {
		t.Errorf("AuthorizeURL =\n %s\nwant\n %s", got, want)
	}
}

func TestMaskOpenID(t *testing.T) {
	for in, want := range map[string]string{
		"oyORnuP8q7ou2gfYjqLzSIWZf0rs": "oyOR…f0rs",
		"short":                        "short",
		"":                             "",
	} {
		if got := wechat.MaskOpenID(in); got != want {
			t.Errorf("MaskOpenID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestToken_Success(t *testing.T) {
	e := newEnv(t)
	tok, err := e.client.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.ExpiresIn != 7200 {
		t.Fatalf("token = %+v", tok)
	}
	if d := time.Until(tok.ExpiresAt); d < 7190*time.Second || d > 7200*time.Second {
		t.Errorf("ExpiresAt in %v, want ~2h", d)
	}
	if _, err := e.client.APIDomainIP(t.Context(), tok.AccessToken); err != nil {
		t.Errorf("fresh token rejected: %v", err)
	}
}

func TestToken_EveryCallSupersedesWithFiveMinuteGrace(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	old, err := e.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := e.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old.AccessToken == cur.AccessToken {
		t.Fatal("second /cgi-bin/token call returned the same token")
	}
	e.clock.Advance(5*time.Minute - time.Second)
	if _, err := e.client.APIDomainIP(ctx, old.AccessToken); err != nil {
		t.Fatalf("old token rejected within the grace period: %v", err)
	}
	e.clock.Advance(2 * time.Second)
	we := wantCode(t, must(e.client.APIDomainIP(ctx, old.AccessToken)), 40001)
	if !we.TokenInvalid() || we.Temporary() || we.ConfigProblem() {
		t.Errorf("40001 predicates wrong: TokenInvalid=%v Temporary=%v ConfigProblem=%v", we.TokenInvalid(), we.Temporary(), we.ConfigProblem())
	}
	if !wechat.IsTokenInvalid(we) {
		t.Error("IsTokenInvalid(40001) = false")
	}
	if _, err := e.client.APIDomainIP(ctx, cur.AccessToken); err != nil {
		t.Errorf("current token rejected: %v", err)
	}
}

func TestToken_Expired42001(t *testing.T) {
	e := newEnv(t)
	tok, err := e.client.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7200 * time.Second)
	we := wantCode(t, must(e.client.APIDomainIP(t.Context(), tok.AccessToken)), 42001)
	if !we.TokenInvalid() {
		t.Error("42001 TokenInvalid = false")
	}
}

func TestToken_MissingAndGarbage(t *testing.T) {
	e := newEnv(t)
	wantCode(t, must(e.client.APIDomainIP(t.Context(), "")), 41001)
	wantCode(t, must(e.client.APIDomainIP(t.Context(), "garbage")), 40014)
}

func TestToken_InvalidateTokens(t *testing.T) {
	e := newEnv(t)
	tok, err := e.client.StableToken(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	e.sb.InvalidateTokens()
	wantCode(t, must(e.client.APIDomainIP(t.Context(), tok.AccessToken)), 40001)
	fresh, err := e.client.StableToken(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken {
		t.Error("stable_token returned the invalidated token")
	}
}

func TestToken_DailyQuota45009(t *testing.T) {
	e := newEnv(t)
	for i := range 200 {
		if _, err := e.client.Token(t.Context()); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	we := wantCode(t, must(e.client.Token(t.Context())), 45009)
	if !we.QuotaExceeded() || we.Temporary() {
		t.Errorf("45009: QuotaExceeded=%v Temporary=%v", we.QuotaExceeded(), we.Temporary())
	}
	e.clock.Advance(24 * time.Hour)
	if _, err := e.client.Token(t.Context()); err != nil {
		t.Errorf("quota did not reset the next day: %v", err)
	}
}

func TestStableToken_SameWhileValidRotatesInLastFiveMinutes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	first, err := e.client.StableToken(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.ExpiresIn != 7200 {
		t.Errorf("expires_in = %d, want 7200", first.ExpiresIn)
	}
	e.clock.Advance(time.Hour)
	again, err := e.client.StableToken(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessToken != first.AccessToken || again.ExpiresIn != 3600 {
		t.Errorf("after 1h: same=%v expires_in=%d, want same token with 3600", again.AccessToken == first.AccessToken, again.ExpiresIn)
	}
	e.clock.Advance(time.Hour - 299*time.Second) // 299 s left
	rotated, err := e.client.StableToken(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.AccessToken == first.AccessToken || rotated.ExpiresIn < 300 {
		t.Errorf("in last 5 min: same=%v expires_in=%d, want a new token", rotated.AccessToken == first.AccessToken, rotated.ExpiresIn)
	}
	if _, err := e.client.APIDomainIP(ctx, first.AccessToken); err != nil {
		t.Errorf("old stable token rejected right after rotation: %v", err)
	}
	// Stable tokens are separate from /cgi-bin/token ones: fetching the
	// latter does not retire the former.
	if _, err := e.client.Token(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := e.client.APIDomainIP(ctx, rotated.AccessToken); err != nil {
		t.Errorf("stable token retired by /cgi-bin/token: %v", err)
	}
}

func TestStableToken_ForceRefresh(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	first, err := e.client.StableToken(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	forced, err := e.client.StableToken(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if forced.AccessToken == first.AccessToken {
		t.Fatal("force_refresh returned the same token")
	}
	e.clock.Advance(10 * time.Second)
	again, err := e.client.StableToken(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessToken != forced.AccessToken {
		t.Error("a second force_refresh within 30 s rotated the token")
	}
	e.clock.Advance(30 * time.Second)
	third, err := e.client.StableToken(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if third.AccessToken == forced.AccessToken {
		t.Error("force_refresh 40 s later did not rotate")
	}
}

func TestTokens_BadCredentials(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name          string
		appID, secret string
		code          int
	}{
		{"wrong appid", "wx_nope", testSecret, 40013},
		{"wrong secret", testAppID, "nope", 40125},
	}
	for _, tt := range tests {
		c := *e.client
		c.AppID, c.AppSecret = tt.appID, tt.secret
		calls := map[string]func() error{
			"token":        func() error { return must(c.Token(t.Context())) },
			"stable_token": func() error { return must(c.StableToken(t.Context(), false)) },
			"sns":          func() error { return must(c.ExchangeCode(t.Context(), "whatever")) },
		}
		for call, f := range calls {
			t.Run(tt.name+"/"+call, func(t *testing.T) {
				we := wantCode(t, f(), tt.code)
				if !we.ConfigProblem() || we.Temporary() || we.TokenInvalid() {
					t.Errorf("predicates: ConfigProblem=%v Temporary=%v TokenInvalid=%v", we.ConfigProblem(), we.Temporary(), we.TokenInvalid())
				}
				if we.Explain() == "" || !strings.Contains(we.Explain(), "配置") {
					t.Errorf("Explain() = %q, want a hint about configuration", we.Explain())
				}
			})
		}
	}
}

// authorize plays the phone over HTTP: user nickname picks, consents, and
// the code from the redirect is returned.
func authorize(t *testing.T, e *env, scope, nickname string) (code, openid string) {
	t.Helper()
	u := e.sb.AddUser(nickname)
	authURL := e.client.AuthorizeURL("https://app.example/bind/cb", scope, "st4te")
	authURL, _, _ = strings.Cut(authURL, "#")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(step string) *http.Response {
		resp, err := hc.PostForm(authURL, url.Values{"step": {step}, "openid": {u.OpenID}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post("choose")
	if scope == wechat.ScopeUserInfo {
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("choose: status %d", resp.StatusCode)
		}
		resp = post("allow")
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s has no code", loc)
	}
	return loc.Query().Get("code"), u.OpenID
}

func TestOAuth_ExchangeAndUserInfo(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	code, openid := authorize(t, e, wechat.ScopeUserInfo, "赵六")
	tok, err := e.client.ExchangeCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.OpenID != openid || tok.Scope != wechat.ScopeUserInfo || tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn != 7200 {
		t.Errorf("token = %+v", tok)
	}
	if tok.UnionID != "" || tok.IsSnapshotUser {
		t.Errorf("sandbox token has unionid %q / snapshot %v", tok.UnionID, tok.IsSnapshotUser)
	}
	u, err := e.client.UserInfo(ctx, tok.AccessToken, tok.OpenID)
	if err != nil {
		t.Fatal(err)
	}
	if u.OpenID != openid || u.Nickname != "赵六" || u.Sex != 0 || !strings.HasPrefix(u.HeadImgURL, "http") {
		t.Errorf("user = %+v", u)
	}
	if err := e.client.CheckOAuthToken(ctx, tok.AccessToken, tok.OpenID); err != nil {
		t.Errorf("sns/auth: %v", err)
	}
	wantCode(t, e.client.CheckOAuthToken(ctx, tok.AccessToken, "oSomeoneElse"), 40003)
	wantCode(t, must(e.client.UserInfo(ctx, tok.AccessToken, "oSomeoneElse")), 40003)

	refreshed, err := e.client.RefreshOAuthToken(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.OpenID != openid || refreshed.AccessToken == tok.AccessToken {
		t.Errorf("refreshed = %+v", refreshed)
	}
	wantCode(t, must(e.client.RefreshOAuthToken(ctx, "nope")), 40030)

	e.clock.Advance(7200 * time.Second)
	wantCode(t, must(e.client.UserInfo(ctx, tok.AccessToken, tok.OpenID)), 42001)
}

func TestOAuth_CodeErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	code, _ := authorize(t, e, wechat.ScopeBase, "张三")
	if _, err := e.client.ExchangeCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	we := wantCode(t, must(e.client.ExchangeCode(ctx, code)), 40163)
	if !we.CodeInvalid() || we.Temporary() {
		t.Errorf("40163: CodeInvalid=%v Temporary=%v", we.CodeInvalid(), we.Temporary())
	}
	if !strings.Contains(we.Explain(), "已被使用") {
		t.Errorf("Explain() = %q", we.Explain())
	}

	wantCode(t, must(e.client.ExchangeCode(ctx, "unknowncode")), 40029)
	wantCode(t, must(e.client.ExchangeCode(ctx, "")), 41008)

	expiring, _ := authorize(t, e, wechat.ScopeBase, "张三")
	e.clock.Advance(5*time.Minute + time.Second)
	we = wantCode(t, must(e.client.ExchangeCode(ctx, expiring)), 40029)
	if we.Explain() != "授权码无效或已过期，请重新扫码" {
		t.Errorf("Explain() = %q", we.Explain())
	}
}

func TestOAuth_BaseScopeCannotReadUserInfo(t *testing.T) {
	e := newEnv(t)
	code, openid := authorize(t, e, wechat.ScopeBase, "李四")
	tok, err := e.client.ExchangeCode(t.Context(), code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.OpenID != openid || tok.Scope != wechat.ScopeBase {
		t.Errorf("token = %+v", tok)
	}
	wantCode(t, must(e.client.UserInfo(t.Context(), tok.AccessToken, tok.OpenID)), 48001)
	wantCode(t, must(e.client.UserInfo(t.Context(), "garbage", tok.OpenID)), 40001)
}

func TestOAuth_SNSAnswersTextPlain(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/sns/oauth2/access_token?appid=" + testAppID + "&secret=" + testSecret + "&code=x&grant_type=authorization_code")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain like WeChat", ct)
	}
	// and the client still parses it (TestOAuth_ExchangeAndUserInfo succeeds)
}

func TestClient_TransportErrorHidesSecret(t *testing.T) {
	e := newEnv(t)
	e.srv.Close()
	for name, call := range map[string]func() error{
		"token": func() error { return must(e.client.Token(t.Context())) },
		"sns":   func() error { return must(e.client.ExchangeCode(t.Context(), "c")) },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if err == nil {
				t.Fatal("no error from a closed server")
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "secret=") {
				t.Errorf("error leaks the secret: %v", err)
			}
			var re *wechat.RequestError
			if !errors.As(err, &re) || !wechat.IsTemporary(err) {
				t.Errorf("err = %v (%T), want a temporary *wechat.RequestError", err, err)
			}
		})
	}
}

func TestClient_CancelledIsNotTemporary(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := must(e.client.Token(ctx))
	if !errors.Is(err, context.Canceled) || wechat.IsTemporary(err) {
		t.Errorf("err = %v; want context.Canceled, not temporary", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestClient_HTTPStatusIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := &wechat.Client{AppID: testAppID, AppSecret: testSecret, APIBase: srv.URL}
	err := must(c.Token(t.Context()))
	var se *wechat.StatusError
	if !errors.As(err, &se) || se.StatusCode != 502 || !wechat.IsTemporary(err) {
		t.Fatalf("err = %v (%T), want temporary *wechat.StatusError 502", err, err)
	}
	if !strings.Contains(err.Error(), "502") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("Error() = %q", err)
	}
}

// must drops a result, keeping the error.
func must[T any](_ T, err error) error { return err }
