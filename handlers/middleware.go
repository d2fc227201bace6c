package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxpush/wxpush/store"
)

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// withRequestLog gives each request an id (X-Request-Id) and a logger
// carrying it, and logs the request when it ends. Query strings are not
// logged: they can carry OAuth codes and states.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKeyRequestID, id)))
		if s.Log.Enabled(r.Context(), slog.LevelInfo) {
			s.Log.LogAttrs(r.Context(), slog.LevelInfo, "http", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("path", logPath(r.URL.Path)), slog.Int("status", rec.status),
				slog.String("client_ip", ClientIP(r)),
				slog.Float64("dur_ms", float64(time.Since(start).Microseconds())/1000))
		}
	})
}

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	csp := contentSecurityPolicy(s.Config.FollowQRURL)
	// The sandbox's simulated phone shows pages in a frame of its own (its
	// browser: the OAuth page, detail pages): sandbox pages may be framed
	// by this site, nothing else may.
	sandboxCSP := strings.Replace(csp, "frame-ancestors 'none'", "frame-ancestors 'self'", 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(r.URL.Path, "/sandbox/") && s.Sandbox != nil {
			h.Set("Content-Security-Policy", sandboxCSP)
			h.Set("X-Frame-Options", "SAMEORIGIN")
		} else {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
		}
		// Pages never leak their URL (OAuth code and state) to other sites.
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy keeps injected markup inert: scripts and styles
// only from this site's files (pages carry no inline script, style or
// event handler; htmx's inline indicator style is turned off in its
// config), images from this site, as data: URLs (the QR codes) and from
// the origin of the configured follow QR image; forms post only here (the
// sandbox's OAuth page redirects to this site's callback, which is
// 'self'); no framing, no <base>, no plugins.
func contentSecurityPolicy(followQRURL string) string {
	// WeChat's avatars come from *.qlogo.cn (avatarURL).
	img := "'self' data: https://*.qlogo.cn"
	if u, err := url.Parse(followQRURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		img += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img +
		"; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// crossOriginProtection rejects cross-origin state-changing requests
// (browsers' Sec-Fetch-Site / Origin) with a 403 page, or a JSON 403 on
// the API and the personal push URLs.
func (s *Server) crossOriginProtection(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/send/") {
			// Programs get the JSON error their endpoints promise.
			s.writeJSONError(w, r, apiErr(http.StatusForbidden, "cross_origin",
				"浏览器发来的跨站请求被拒绝：请从程序或脚本调用这个接口。"))
			return
		}
		s.renderError(w, r, errorf(http.StatusForbidden, "请求被拒绝",
			"这个请求来自其他网站，为了保护你的账号已被拒绝。请回到 wxpush 页面重新操作。"))
	}))
	return cop.Handler(next)
}

// requireUser loads the signed-in user into the context, or sends the
// browser to the login page.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.currentUser(r)
		if err != nil {
			if !errors.Is(err, errNoSession) && !errors.Is(err, store.ErrNotFound) {
				s.renderError(w, r, err)
				return
			}
			login := "/login"
			if r.Method == http.MethodGet && !isHTMX(r) && r.URL.Path != "/" {
				login += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			if isHTMX(r) {
				// htmx follows HX-Redirect with a full page load.
				w.Header().Set("HX-Redirect", login)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, login, http.StatusSeeOther)
			return
		}
		// Pages for a signed-in user are theirs alone: no browser or proxy
		// cache keeps them (the back button after logout, a shared machine).
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKeyUser, u)))
	})
}

// requireAdmin is requireUser plus a 403 for everyone but admins.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return s.requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, _ := userFrom(r.Context()); !u.IsAdmin {
			s.renderError(w, r, errorf(http.StatusForbidden, "没有权限", "只有管理员可以进行此操作。"))
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// logPath hides the secret part of paths that carry one (personal send
// keys) before the path is logged. Every log line that carries a request
// path goes through it. It masks whatever follows a "send" segment, in any
// case and in unclean forms ("//send/…", "/x/../send/…"), which the mux
// answers with a redirect or a 404 but which still reach the log.
func logPath(p string) string {
	if i := strings.Index(strings.ToLower(p), "/send/"); i >= 0 {
		return p[:i] + "/send/{key}"
	}
	return p
}
