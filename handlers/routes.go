package handlers

import (
	"net/http"
)

// Handler returns the whole site: every route is listed here.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()

	// Public pages.
	mux.Handle("GET /login", s.handle(s.loginPage))
	mux.Handle("POST /login", s.handle(s.login))
	mux.Handle("GET /signup", s.handle(s.signupPage))
	mux.Handle("POST /signup", s.handle(s.signup))
	mux.Handle("POST /logout", s.handle(s.logout))
	mux.Handle("GET /static/", s.Static)
	mux.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
	mux.HandleFunc("GET /healthz", s.healthz) // the process is up
	mux.HandleFunc("GET /readyz", s.readyz)   // the database takes writes and a WeChat token is at hand

	// Signed-in users.
	mux.Handle("GET /{$}", s.requireUser(s.handle(s.accountPage)))
	mux.Handle("POST /unbind", s.requireUser(s.handle(s.unbind)))
	mux.Handle("POST /account/sessions/{id}/end", s.requireUser(s.handle(s.endOneSession)))
	mux.Handle("POST /account/sessions/end-others", s.requireUser(s.handle(s.endOtherSessions)))
	mux.Handle("GET /bind", s.requireUser(s.handle(s.bindPage)))
	mux.Handle("GET /bind/status", s.requireUser(s.handle(s.bindStatus)))
	mux.Handle("POST /bind/refresh", s.requireUser(s.handle(s.bindRefresh)))
	mux.Handle("POST /sendkey/rotate", s.requireUser(s.handle(s.rotateSendKey)))

	// Personal push URLs, called by scripts: the key is the credential.
	mux.Handle("GET /send/{key}", s.handleJSON(s.sendByKey))
	mux.Handle("POST /send/{key}", s.handleJSON(s.sendByKey))

	// Admins.
	mux.Handle("POST /settings/signup", s.requireAdmin(s.handle(s.setSignup)))
	mux.Handle("GET /admin", s.requireAdmin(s.handle(s.dashboard)))
	mux.Handle("POST /admin/users/refresh", s.requireAdmin(s.handle(s.refreshFollowing)))
	mux.Handle("POST /admin/outbox/resume", s.requireAdmin(s.handle(s.resumeOutbox)))
	mux.Handle("GET /admin/compose", s.requireAdmin(s.handle(s.composePage)))
	mux.Handle("GET /admin/compose/fields", s.requireAdmin(s.handle(s.composeFields)))
	mux.Handle("POST /admin/compose/preview", s.requireAdmin(s.handle(s.composePreview)))
	mux.Handle("POST /admin/compose/check", s.requireAdmin(s.handle(s.composeCheck)))
	mux.Handle("POST /admin/compose", s.requireAdmin(s.handle(s.send)))
	mux.Handle("GET /admin/messages", s.requireAdmin(s.handle(s.messages)))
	mux.Handle("GET /admin/messages/{id}", s.requireAdmin(s.handle(s.message)))
	mux.Handle("GET /admin/messages/{id}/progress", s.requireAdmin(s.handle(s.messageProgress)))
	mux.Handle("POST /admin/messages/{id}/retry", s.requireAdmin(s.handle(s.retryFailed)))
	mux.Handle("GET /admin/templates", s.requireAdmin(s.handle(s.templates)))
	mux.Handle("POST /admin/templates/sync", s.requireAdmin(s.handle(s.syncTemplates)))
	mux.Handle("POST /admin/sendkey-template", s.requireAdmin(s.handle(s.setSendKeyTemplate)))

	// Admin API tokens (dashboard), and the JSON API that programs call with
	// them: apiRoutes in api.go lists its endpoints, openapi.json documents
	// them; every other /api/ path answers a JSON 404 or 405.
	mux.Handle("GET /admin/tokens", s.requireAdmin(s.handle(s.tokensPage)))
	mux.Handle("POST /admin/tokens", s.requireAdmin(s.handle(s.createToken)))
	mux.Handle("POST /admin/tokens/{id}/revoke", s.requireAdmin(s.handle(s.revokeToken)))
	api := s.newAPI()
	for _, rt := range apiRoutes {
		mux.Handle(rt.Method+" "+rt.Pattern, api.handler(rt))
	}
	mux.Handle("/api/", api.fallback())

	// WeChat: the OAuth redirect opens on the user's phone, without our session.
	mux.Handle("GET /wechat/oauth/callback", s.handle(s.oauthCallback))
	// Server URL verification, and messages and events pushed by WeChat's
	// servers (docs/wechat.md, "Server URL"): answered in plain text.
	mux.Handle("GET /wechat", s.handlePlain(s.verifyServerURL))
	mux.Handle("POST /wechat", s.handlePlain(s.receive))

	if s.Sandbox != nil {
		mux.Handle("/sandbox/", http.StripPrefix("/sandbox", s.Sandbox))
	}

	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "页面不存在", "你访问的页面不存在。")
	}))

	// Outermost first: the client's address and scheme (trusted proxies'
	// forwarding headers), request id and logging, the host check (421
	// for other hosts), security headers, then the cross-origin check that
	// guards every state-changing request; innermost, the flash a POST
	// left for this page load.
	return s.withClientInfo(s.withRequestLog(s.checkHost(s.securityHeaders(s.crossOriginProtection(s.withFlash(mux))))))
}
