// Package handlers is wxpush's HTTP layer: routes, sessions, and the
// handlers that turn requests into store and WeChat calls and render views.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/a-h/templ"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// Config is the part of the configuration the handlers need.
type Config struct {
	BaseURL     *url.URL        // public URL of the site, e.g. https://push.example.com
	Sandbox     bool            // the built-in WeChat emulator is mounted at /sandbox/
	FollowQRURL string          // image of the official account's follow QR code (optional)
	WXToken     string          // the server-URL token configured in the WeChat console
	Crypter     *wechat.Crypter // safe mode (docs/wechat.md, "Safe mode"); nil without an EncodingAESKey
	EventWindow time.Duration   // pushes with a timestamp further off are refused [5m]
	// Location is the zone of the times pages show and the API returns
	// (WXPUSH_TZ) [Beijing time].
	Location *time.Location
	// InAppCookie, in sandbox mode, is the cookie the simulated phone's
	// browser sets (sandbox.InAppCookie): pages treat framed requests
	// that carry it as WeChat's in-app browser.
	InAppCookie string

	SendKeyPerMinute int     // pushes per minute per personal send key (burst 10) [30]
	APIRatePerSecond float64 // API requests per second per token (burst: twice that) [50]

	// Hosts are the host names (ports aside) this site answers to; a
	// request for another gets 421 (checkHost). Default: BaseURL's host.
	// Loopback names are always accepted.
	Hosts []string

	// TrustedProxies: peers whose X-Forwarded-For/-Proto/-Host are believed
	// (WXPUSH_TRUSTED_PROXIES); nil trusts none.
	TrustedProxies []netip.Prefix
	// Failed logins allowed per LoginWindow per client address [10] and
	// per account name [5]; LoginWindow [15m].
	LoginFailuresPerIP      int
	LoginFailuresPerAccount int
	LoginWindow             time.Duration
	// Password checks run at once [4]; a login that finds none free waits
	// up to LoginQueueWait [2s], then gets 503 with Retry-After.
	LoginConcurrency int
	LoginQueueWait   time.Duration
	// Sign-up attempts (every POST /signup) allowed per SignupWindow
	// [15m] per client address [10].
	SignupsPerIP int
	SignupWindow time.Duration
}

// Server holds the dependencies of every handler. Handlers change nothing
// themselves: every change goes through App, the use cases; Store is read
// directly only for what pages and the API list.
type Server struct {
	App      *service.Service
	Store    *store.Store
	Sessions *SessionStore
	Static   *static.Handler
	Tokens   *wechat.TokenManager // token status for the dashboard and /readyz
	Sandbox  http.Handler         // mounted at /sandbox/ in sandbox mode; nil otherwise
	Metrics  http.Handler         // GET /metrics, token-checked; nil: metrics are not served here
	Log      *slog.Logger
	Config   Config
	Now      func() time.Time

	sendKeyLimit *bucketLimiter
	topicTickets *topicTickets
	loginLimit   *loginLimiter
	signupLimit  *failureWindow
	flashes      *flashStore
}

// New returns a Server with defaults filled in.
func New(s Server) *Server {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Config.SendKeyPerMinute <= 0 {
		s.Config.SendKeyPerMinute = 30
	}
	s.topicTickets = &topicTickets{}
	s.sendKeyLimit = newBucketLimiter(float64(s.Config.SendKeyPerMinute)/60, 10)
	if s.Config.APIRatePerSecond <= 0 {
		s.Config.APIRatePerSecond = 50
	}
	if s.Config.LoginFailuresPerIP <= 0 {
		s.Config.LoginFailuresPerIP = 10
	}
	if s.Config.LoginFailuresPerAccount <= 0 {
		s.Config.LoginFailuresPerAccount = 5
	}
	if s.Config.LoginWindow <= 0 {
		s.Config.LoginWindow = 15 * time.Minute
	}
	if s.Config.LoginConcurrency <= 0 {
		s.Config.LoginConcurrency = 4
	}
	if s.Config.LoginQueueWait <= 0 {
		s.Config.LoginQueueWait = 2 * time.Second
	}
	s.loginLimit = newLoginLimiter(s.Config.LoginFailuresPerIP, s.Config.LoginFailuresPerAccount, s.Config.LoginWindow,
		s.Config.LoginConcurrency, s.Config.LoginQueueWait)
	if s.Config.SignupsPerIP <= 0 {
		s.Config.SignupsPerIP = 10
	}
	if s.Config.SignupWindow <= 0 {
		s.Config.SignupWindow = 15 * time.Minute
	}
	s.signupLimit = newFailureWindow(s.Config.SignupsPerIP, s.Config.SignupWindow)
	s.flashes = newFlashStore()
	if s.Config.Location == nil {
		s.Config.Location = beijing
	}
	if s.Config.EventWindow <= 0 {
		s.Config.EventWindow = 5 * time.Minute
	}
	if s.Config.Hosts == nil && s.Config.BaseURL != nil {
		s.Config.Hosts = []string{s.Config.BaseURL.Hostname()}
	}
	return &s
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.logger(r.Context()).Error("render", "path", logPath(r.URL.Path), "err", err)
	}
}

// page builds the common part of every full page.
func (s *Server) page(r *http.Request, title string) views.Page {
	f := flashFrom(r)
	p := views.Page{Title: title, Sandbox: s.Config.Sandbox, Assets: s.assets(), Notice: f.Notice, Problem: f.Problem}
	if u, ok := userFrom(r.Context()); ok {
		p.User = &views.NavUser{Name: u.Name, IsAdmin: u.IsAdmin}
	}
	return p
}

func (s *Server) assets() views.Assets {
	return views.Assets{
		CSS:  s.Static.URL("app.css"),
		HTMX: s.Static.URL(static.HTMXFile),
		JS:   s.Static.URL("app.js"),
		Icon: s.Static.URL("favicon.svg"),
	}
}

func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

type ctxKey int

const (
	ctxKeyUser ctxKey = iota
	ctxKeyRequestID
)

func userFrom(ctx context.Context) (store.User, bool) {
	u, ok := ctx.Value(ctxKeyUser).(store.User)
	return u, ok
}

// logger returns the logger for a request, carrying its id. It is built
// only when something is logged.
func (s *Server) logger(ctx context.Context) *slog.Logger {
	if id, ok := ctx.Value(ctxKeyRequestID).(string); ok {
		return s.Log.With("request_id", id)
	}
	return s.Log
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
