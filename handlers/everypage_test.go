package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

// everyPage builds a site with something on every page — bound users,
// more than eight recipients (compose shows its filter), a message, a
// token just made — and returns every page of the site and of the sandbox
// as a browser gets it.
func everyPage(t *testing.T) (*testApp, map[string]resp) {
	t.Helper()
	app := newTestApp(t, func(c *testConfig) { c.SignupsPerIP = 20 })
	admin := app.bindUser(t, "root")
	for i := range 9 {
		app.bindUser(t, fmt.Sprintf("user%d", i))
	}
	app.syncTemplates(t)
	sent := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"hello"}})
	if sent.Status != http.StatusSeeOther {
		t.Fatalf("send: %d\n%s", sent.Status, sent.Body)
	}
	withToken := admin.follow(admin.post("/admin/tokens", url.Values{"name": {"ci"}, "scopes": {"send", "read", "manage"}}))
	admin.sendKey()

	newcomer := app.browser(t)
	newcomer.signup("newcomer")
	authURL, _ := newcomer.bindQR()
	phone := app.browser(t)
	chooser := phone.get(authURL)
	openid := app.SB.AddUser("张三").OpenID
	consent := phone.post(authURL, url.Values{"step": {"choose"}, "openid": {openid}})
	result := app.browser(t).get(app.phoneDecides(t, authURL, "李四", true))

	hook := admin.post("/admin/webhooks", url.Values{"url": {"https://hooks.example.com/wxpush"}, "events": {"binding.created"}})
	hookID := regexp.MustCompile(`/admin/webhooks/(whk_[A-Za-z0-9_-]+)`).FindStringSubmatch(hook.Body)
	if hookID == nil {
		t.Fatalf("webhook creation: %d\n%s", hook.Status, hook.Body)
	}

	return app, map[string]resp{
		"webhooks, new secret": hook,
		"webhooks":             admin.get("/admin/webhooks"),
		"webhook":              admin.get("/admin/webhooks/" + hookID[1]),
		"login":                app.browser(t).get("/login"),
		"signup":               app.browser(t).get("/signup"),
		"404":                  app.browser(t).get("/nope"),
		"account":              admin.get("/"),
		"bind (bound)":         admin.get("/bind"),
		"bind (QR)":            newcomer.get("/bind"),
		"dashboard":            admin.get("/admin"),
		"compose":              admin.get("/admin/compose"),
		"compose text":         admin.get("/admin/compose?kind=text"),
		"messages":             admin.get("/admin/messages"),
		"message":              admin.get(sent.Header.Get("Location")),
		"templates":            admin.get("/admin/templates"),
		"tokens, new token":    withToken,
		"sandbox home":         app.browser(t).get("/sandbox/"),
		"sandbox phones":       app.browser(t).get("/sandbox/phone"),
		"sandbox phone":        app.browser(t).get("/sandbox/phone/" + openid),
		"sandbox chooser":      chooser,
		"sandbox consent":      consent,
		"phone result":         result,
		"sandbox bad oauth":    app.browser(t).get("/sandbox/connect/oauth2/authorize?appid=nope"),
		"sandbox not found":    app.browser(t).get("/sandbox/phone/nobody"),
	}
}
