package handlers_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

const (
	testWXToken = "789"
	testAppID   = "wxtestapp0001"
	testAESKey  = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// logBuffer collects the server's log for tests that check what is logged.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testApp is the whole site on a loopback server, with the sandbox mounted
// at /sandbox/ exactly as sandbox mode runs it.
type testApp struct {
	URL     string
	Handler http.Handler // the site, for in-process benchmarks
	DBPath  string
	Store   *store.Store
	SB      *sandbox.Sandbox
	Clock   *clock
	Client  *wechat.Client
	Tokens  *wechat.TokenManager
	Crypter *wechat.Crypter
	Service *service.Service
	Server  *handlers.Server
	Logs    *logBuffer // everything the server logged, at debug level
}

// testConfig is what a test may change of the site's configuration.
type testConfig struct {
	handlers.Config
	Service service.Config
}

func newTestApp(t testing.TB, opts ...func(*testConfig)) *testApp {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "wxpush.db")
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetBcryptCost(bcrypt.MinCost)
	c := &clock{t: time.Now()}
	st.SetClock(c.Now)

	ts := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + ts.Listener.Addr().String())
	sb, err := sandbox.New(sandbox.Options{
		AppID: "wxtestapp0001", AppSecret: "test-secret-0123456789",
		PathPrefix: "/sandbox", RedirectDomain: base.Host, Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	sessions := handlers.NewSessionStore(st, false)
	// OAuth binding unless a test asks for one-scan binding.
	crypter, err := wechat.NewCrypter(testWXToken, testAESKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig{
		Config:  handlers.Config{BaseURL: base, Sandbox: true, WXToken: testWXToken, Crypter: crypter, InAppCookie: sandbox.InAppCookie},
		Service: service.Config{BaseURL: base, BindMode: "oauth"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	client := &wechat.Client{
		AppID: "wxtestapp0001", AppSecret: "test-secret-0123456789",
		APIBase: base.String() + "/sandbox", OAuthBase: base.String() + "/sandbox",
	}
	tokens := wechat.NewTokenManager(client, wechat.TokenOptions{})
	ob := outbox.New(st, outbox.WeChatSender{Client: client, Tokens: tokens},
		outbox.Config{Workers: 4, BaseBackoff: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond}, nil)
	svc := service.New(service.Deps{Store: st, WeChat: client, Tokens: tokens, Outbox: ob, Now: c.Now}, cfg.Service)
	logs := &logBuffer{}
	srv := handlers.New(handlers.Server{
		App:      svc,
		Store:    st,
		Tokens:   tokens,
		Sessions: sessions,
		Static:   static.New(),
		Sandbox:  sb,
		Log:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      c.Now,
		Config:   cfg.Config,
	})
	h := srv.Handler()
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	octx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(octx) }()
	t.Cleanup(func() { stop(); <-done })
	return &testApp{URL: ts.URL, Handler: h, DBPath: dbPath, Store: st, SB: sb, Clock: c, Client: client, Tokens: tokens, Crypter: crypter,
		Service: svc, Server: srv, Logs: logs}
}

// plainMode runs the app without an EncodingAESKey, so that it takes
// WeChat's plaintext pushes (with a key it takes only encrypted ones).
func plainMode(c *testConfig) { c.Crypter = nil }

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each response as it is.
type browser struct {
	t   testing.TB
	app *testApp
	c   *http.Client
}

func (a *testApp) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, app: a, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type resp struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) resp {
	b.t.Helper()
	r, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(body)}
}

func (b *browser) url(p string) string {
	if strings.HasPrefix(p, "http") {
		return p
	}
	return b.app.URL + p
}

func (b *browser) get(p string, hdr ...string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.url(p), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// post submits a form the way a same-origin page does.
func (b *browser) post(p string, form url.Values, hdr ...string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.url(p), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// postJSON calls an endpoint the way a script does: no browser headers.
func (b *browser) postJSON(p, body string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.url(p), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return b.do(req)
}

func (b *browser) signup(name string) {
	b.t.Helper()
	r := b.post("/signup", url.Values{"name": {name}, "password": {"password-" + name}, "password2": {"password-" + name}})
	if r.Status != http.StatusSeeOther {
		b.t.Fatalf("signup %s: status %d\n%s", name, r.Status, r.Body)
	}
}

var openInPhone = regexp.MustCompile(`href="([^"]+)" target="_blank" id="open-in-phone"`)
var statusID = regexp.MustCompile(`hx-get="/bind/status\?t=(\d+)"`)

// bindQR opens /bind and returns the OAuth URL the QR code carries and the
// token id the page polls.
func (b *browser) bindQR() (authURL, tokenID string) {
	b.t.Helper()
	r := b.get("/bind")
	if r.Status != 200 {
		b.t.Fatalf("GET /bind: %d", r.Status)
	}
	if strings.Contains(r.Body, `data-state="current"`) {
		// Already bound: ask for a QR to re-bind, as the page's button does.
		r = b.post("/bind/refresh", nil, "HX-Request", "true")
	}
	m := openInPhone.FindStringSubmatch(r.Body)
	s := statusID.FindStringSubmatch(r.Body)
	if m == nil || s == nil {
		b.t.Fatalf("no QR link or poller in /bind:\n%s", r.Body)
	}
	return html.UnescapeString(m[1]), s[1]
}

// phoneDecides plays the sandbox phone: the simulated user allows (or
// refuses) the authorization; it returns the redirect WeChat would follow.
func (a *testApp) phoneDecides(t *testing.T, authURL, nickname string, allow bool) string {
	t.Helper()
	u := a.SB.AddUser(nickname)
	step := "deny"
	if allow {
		step = "allow"
	}
	phone := a.browser(t)
	r := phone.post(authURL, url.Values{"step": {step}, "openid": {u.OpenID}})
	if r.Status != http.StatusFound {
		t.Fatalf("sandbox authorize %s: %d\n%s", step, r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

func state(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

// cookie returns the browser's session cookie, or nil.
func (b *browser) cookie() *http.Cookie {
	u, _ := url.Parse(b.app.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "wxpush_session" {
			return c
		}
	}
	return nil
}
