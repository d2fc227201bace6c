package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// What WeChat users and admins type reaches pages: a nickname chosen in
// WeChat, a message an admin sent. Rendered raw (templ.Raw, a template
// helper that skips escaping), these would run in the admin's browser.
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
}

// assertEscaped fails when body holds payload as markup, or lacks it as
// escaped text (so the page did show it: the check is not vacuous).
func assertEscaped(t *testing.T, page, body, payload string) {
	t.Helper()
	if strings.Contains(body, payload) {
		t.Errorf("%s renders %q unescaped", page, payload)
	}
	if !strings.Contains(body, html.EscapeString(payload)) {
		t.Errorf("%s does not show %q as text", page, payload)
	}
}

func TestXSS_WeChatNicknamesAreEscaped(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	users := map[string]*browser{}
	for i, nick := range xssPayloads {
		b := app.browser(t)
		name := []string{"alice", "bob"}[i]
		b.signup(name)
		authURL, _ := b.bindQR()
		if r := app.browser(t).get(app.phoneDecides(t, authURL, nick, true)); r.Status != http.StatusOK {
			t.Fatalf("binding %s: %d", name, r.Status)
		}
		users[nick] = b
	}
	dashboard := admin.get("/admin")
	compose := admin.get("/admin/compose?kind=text")
	for nick, b := range users {
		assertEscaped(t, "the dashboard's users table", dashboard.Body, nick)
		assertEscaped(t, "the compose form's recipients", compose.Body, nick)
		assertEscaped(t, "the account page", b.get("/").Body, nick)
		assertEscaped(t, "the bind page", b.get("/bind").Body, nick)
	}
}

func TestXSS_MessageSummariesAreEscaped(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	var pages []string
	for _, text := range xssPayloads {
		r := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {text}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("send: %d\n%s", r.Status, r.Body)
		}
		pages = append(pages, r.Header.Get("Location"))
	}
	list := admin.get("/admin/messages")
	dashboard := admin.get("/admin") // recent messages and the audit log
	for i, text := range xssPayloads {
		assertEscaped(t, "the messages list", list.Body, text)
		assertEscaped(t, "the dashboard", dashboard.Body, text)
		assertEscaped(t, "the message page", admin.get(pages[i]).Body, text)
	}
}
