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
	// An admin's one-time reset link (the token in the query, which logs leave out).
	mux.Handle("GET /reset-password", s.handle(s.resetPasswordPage))
	mux.Handle("POST /reset-password", s.handle(s.resetPassword))
	mux.Handle("GET /static/", s.Static)
	mux.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
	mux.HandleFunc("GET /healthz", s.healthz) // the process is up
	mux.HandleFunc("GET /readyz", s.readyz)   // the database takes writes and a WeChat token is at hand
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics) // Prometheus, behind WXPUSH_METRICS_TOKEN
	}

	// Signed-in users.
	mux.Handle("GET /{$}", s.requireUser(s.handle(s.accountPage)))
	mux.Handle("POST /unbind", s.requireUser(s.handle(s.unbind)))
	mux.Handle("POST /account/sessions/{id}/end", s.requireUser(s.handle(s.endOneSession)))
	mux.Handle("POST /account/sessions/end-others", s.requireUser(s.handle(s.endOtherSessions)))
	mux.Handle("GET /account/password", s.requireUser(s.handle(s.changePasswordPage)))
	mux.Handle("POST /account/password", s.requireUser(s.handle(s.changePassword)))
	mux.Handle("GET /bind", s.requireUser(s.handle(s.bindPage)))
	mux.Handle("GET /bind/status", s.requireUser(s.handle(s.bindStatus)))
	mux.Handle("POST /bind/refresh", s.requireUser(s.handle(s.bindRefresh)))
	mux.Handle("POST /sendkey/rotate", s.requireUser(s.handle(s.rotateSendKey)))
	mux.Handle("GET /messages", s.requireUser(s.handle(s.myMessages)))

	// Message detail pages, opened from WeChat: the token is the key.
	mux.Handle("GET /m/{token}", s.handle(s.messagePage))

	// Topics' own pages: subscribe with one tap, signed in or identified
	// by WeChat (web authorization comes back to /t/{slug}/wechat).
	mux.Handle("GET /t/{slug}", s.handle(s.topicPage))
	mux.Handle("GET /t/{slug}/wechat", s.handle(s.topicWeChat))
	mux.Handle("POST /t/{slug}", s.handle(s.topicAction))

	// Personal push URLs, called by scripts: the key is the credential.
	mux.Handle("GET /send/{key}", s.handleJSON(s.sendByKey))
	mux.Handle("POST /send/{key}", s.handleJSON(s.sendByKey))

	// Admins.
	mux.Handle("POST /settings/signup", s.requireAdmin(s.handle(s.setSignup)))
	mux.Handle("GET /admin", s.requireAdmin(s.handle(s.dashboard)))
	mux.Handle("POST /admin/users/refresh", s.requireAdmin(s.handle(s.refreshFollowing)))
	// One user, and the account actions: GET asks for confirmation, POST does it.
	mux.Handle("GET /admin/users/{id}", s.requireAdmin(s.handle(s.userPage)))
	mux.Handle("GET /admin/users/{id}/{action}", s.requireAdmin(s.handle(s.confirmUserAction)))
	mux.Handle("POST /admin/users/{id}/reset-password", s.requireAdmin(s.handle(s.createResetLink)))
	mux.Handle("POST /admin/users/{id}/disable", s.requireAdmin(s.handle(s.setUserDisabled(true))))
	mux.Handle("POST /admin/users/{id}/enable", s.requireAdmin(s.handle(s.setUserDisabled(false))))
	mux.Handle("POST /admin/users/{id}/promote", s.requireAdmin(s.handle(s.setUserAdmin(true))))
	mux.Handle("POST /admin/users/{id}/demote", s.requireAdmin(s.handle(s.setUserAdmin(false))))
	mux.Handle("POST /admin/users/{id}/delete", s.requireAdmin(s.handle(s.deleteUser)))
	mux.Handle("POST /admin/outbox/resume", s.requireAdmin(s.handle(s.resumeOutbox)))
	mux.Handle("GET /admin/compose", s.requireAdmin(s.handle(s.composePage)))
	mux.Handle("GET /admin/compose/fields", s.requireAdmin(s.handle(s.composeFields)))
	mux.Handle("POST /admin/compose/preview", s.requireAdmin(s.handle(s.composePreview)))
	mux.Handle("POST /admin/compose/check", s.requireAdmin(s.handle(s.composeCheck)))
	mux.Handle("POST /admin/compose/reach", s.requireAdmin(s.handle(s.composeReach)))
	mux.Handle("POST /admin/compose", s.requireAdmin(s.handle(s.send)))
	mux.Handle("GET /admin/messages", s.requireAdmin(s.handle(s.messages)))
	mux.Handle("GET /admin/messages/{id}", s.requireAdmin(s.handle(s.message)))
	mux.Handle("GET /admin/messages/{id}/progress", s.requireAdmin(s.handle(s.messageProgress)))
	mux.Handle("POST /admin/messages/{id}/retry", s.requireAdmin(s.handle(s.retryFailed)))
	mux.Handle("POST /admin/messages/{id}/resend-unknown", s.requireAdmin(s.handle(s.resendUnknown)))
	mux.Handle("GET /admin/templates", s.requireAdmin(s.handle(s.templates)))
	mux.Handle("POST /admin/templates/sync", s.requireAdmin(s.handle(s.syncTemplates)))
	mux.Handle("POST /admin/sendkey-template", s.requireAdmin(s.handle(s.setSendKeyTemplate)))
	mux.Handle("GET /admin/topics", s.requireAdmin(s.handle(s.adminTopics)))
	mux.Handle("POST /admin/topics", s.requireAdmin(s.handle(s.createTopic)))
	mux.Handle("GET /admin/topics/{slug}", s.requireAdmin(s.handle(s.adminTopic)))
	mux.Handle("POST /admin/topics/{slug}", s.requireAdmin(s.handle(s.updateTopic)))
	mux.Handle("POST /admin/topics/{slug}/delete", s.requireAdmin(s.handle(s.deleteTopic)))
	mux.Handle("POST /admin/topics/{slug}/subscribers", s.requireAdmin(s.handle(s.topicSubscribers)))

	// Admin API tokens (dashboard), and the JSON API that programs call with
	// them: apiRoutes in api.go lists its endpoints, openapi.json documents
	// them; every other /api/ path answers a JSON 404 or 405.
	mux.Handle("GET /admin/tokens", s.requireAdmin(s.handle(s.tokensPage)))
	mux.Handle("POST /admin/tokens", s.requireAdmin(s.handle(s.createToken)))
	mux.Handle("POST /admin/tokens/{id}/revoke", s.requireAdmin(s.handle(s.revokeToken)))
	// Webhook endpoints (handlers/webhooks.go).
	mux.Handle("GET /admin/webhooks", s.requireAdmin(s.handle(s.webhooksPage)))
	mux.Handle("POST /admin/webhooks", s.requireAdmin(s.handle(s.createWebhook)))
	mux.Handle("GET /admin/webhooks/{id}", s.requireAdmin(s.handle(s.webhookPage)))
	mux.Handle("POST /admin/webhooks/{id}/test", s.requireAdmin(s.handle(s.sendTestEvent)))
	mux.Handle("POST /admin/webhooks/{id}/rotate", s.requireAdmin(s.handle(s.rotateWebhookSecret)))
	mux.Handle("POST /admin/webhooks/{id}/enable", s.requireAdmin(s.handle(s.setWebhookEnabled(true))))
	mux.Handle("POST /admin/webhooks/{id}/disable", s.requireAdmin(s.handle(s.setWebhookEnabled(false))))
	mux.Handle("POST /admin/webhooks/{id}/delete", s.requireAdmin(s.handle(s.deleteWebhook)))
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
