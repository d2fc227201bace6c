package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every form the site's pages post answers 303 See Other to a GET page,
// whether it did its work or refused the input: reloading the page that
// follows repeats nothing. (The login and sign-up throttles answer 429
// with Retry-After instead; they do nothing either.)
func TestForms_EveryPOSTAnswers303ToAPage(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	other := app.browser(t)
	other.login("root")
	otherID, _ := other.sessionIDs()
	sent := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"你好"}})
	msgPath := sent.Header.Get("Location")
	admin.createToken("old")
	ts, _ := app.Store.APITokens(context.Background())

	forms := []struct {
		name string
		b    *browser
		path string
		form url.Values
		to   string // where it leads
	}{
		{"send", admin, "/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"再发一条"}}, "/admin/messages/"},
		{"send refused", admin, "/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {""}}, "/admin/compose"},
		{"retry", admin, msgPath + "/retry", nil, msgPath},
		{"sync templates", admin, "/admin/templates/sync", nil, "/admin/templates"},
		{"push URL template", admin, "/admin/sendkey-template", url.Values{"template_id": {"nope"}}, "/admin/templates"},
		{"refresh following", admin, "/admin/users/refresh", nil, "/admin"},
		{"resume sending", admin, "/admin/outbox/resume", url.Values{"kind": {"text"}}, "/admin"},
		{"create token", admin, "/admin/tokens", url.Values{"name": {"ci"}}, "/admin/tokens"},
		{"create token refused", admin, "/admin/tokens", url.Values{"name": {""}}, "/admin/tokens"},
		{"revoke token", admin, "/admin/tokens/" + strconv.FormatInt(ts[0].ID, 10) + "/revoke", nil, "/admin/tokens"},
		{"push URL", admin, "/sendkey/rotate", nil, "/"},
		{"sign-up setting", admin, "/settings/signup", url.Values{"open": {"1"}}, "/"},
		{"end a session", admin, "/account/sessions/" + otherID + "/end", nil, "/"},
		{"end other sessions", admin, "/account/sessions/end-others", nil, "/"},
		{"new binding QR", admin, "/bind/refresh", nil, "/bind"},
		{"unbind", admin, "/unbind", nil, "/"},
		{"login refused", app.browser(t), "/login", url.Values{"name": {"root"}, "password": {"wrong-password"}}, "/login"},
		{"login", app.browser(t), "/login", url.Values{"name": {"root"}, "password": {"password-root"}}, "/"},
		{"sign-up refused", app.browser(t), "/signup", url.Values{"name": {"x"}}, "/signup"},
		{"sign-up", app.browser(t), "/signup", url.Values{"name": {"newbie"}, "password": {"password-1"}, "password2": {"password-1"}}, "/bind"},
		{"logout", admin, "/logout", nil, "/login"},
	}
	for _, f := range forms {
		r := f.b.post(f.path, f.form)
		loc := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, f.to) {
			t.Errorf("%s: POST %s answered %d to %q, want 303 to %s…", f.name, f.path, r.Status, loc, f.to)
			continue
		}
		if page := f.b.get(loc); page.Status != http.StatusOK && page.Status != http.StatusSeeOther {
			t.Errorf("%s: the page after it, %s, answered %d", f.name, loc, page.Status)
		}
	}
}

// A new push URL is shown once, on the page the POST redirects to: not in
// the redirect's URL or its cookie, not to anyone else holding the flash
// cookie, and not again on a reload — which makes no new key either.
func TestForms_SecretShownOnceThroughTheFlash(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	app.syncTemplates(t)
	alice := app.bindUser(t, "alice")
	r := alice.post("/sendkey/rotate", nil)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("rotate: %d", r.Status)
	}
	var flash *http.Cookie
	u, _ := url.Parse(app.URL)
	for _, c := range alice.c.Jar.Cookies(u) {
		if c.Name == "wxpush_flash" {
			flash = c
		}
	}
	if flash == nil {
		t.Fatal("no flash cookie after the POST")
	}
	// Someone else presenting the same flash id does not get the secret
	// (and taking it does not spend alice's: the secret is hers).
	bob := app.bindUser(t, "bob")
	bob.c.Jar.SetCookies(u, []*http.Cookie{{Name: "wxpush_flash", Value: flash.Value, Path: "/"}})
	if page := bob.get("/"); strings.Contains(page.Body, `id="sendkey-url"`) {
		t.Fatal("another user's page showed alice's new push URL")
	}

	alice2 := app.browser(t)
	alice2.login("alice")
	r = alice.post("/sendkey/rotate", nil)
	page := alice.follow(r)
	m := newKeyURL.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("the account page after rotating shows no push URL:\n%s", page.Body)
	}
	key := m[1][strings.LastIndex(m[1], "/")+1:]
	if strings.Contains(r.Header.Get("Location"), key) || strings.Contains(r.Header.Get("Set-Cookie"), key) {
		t.Error("the push key travels in the redirect")
	}
	if !strings.Contains(page.Body, `data-copy="#sendkey-url"`) || !strings.Contains(page.Body, "复制") {
		t.Error("no 复制 button beside the push URL")
	}
	if again := alice.get("/"); strings.Contains(again.Body, key) || strings.Contains(again.Body, "已生成推送链接") {
		t.Error("a reload shows the push URL (or its notice) again")
	}
	// The reload made no new key: the one shown still works.
	if r := app.browser(t).get("/send/" + key + "?title=hi"); r.Status != http.StatusAccepted {
		t.Fatalf("the push URL shown before the reload: %d %s", r.Status, r.Body)
	}
	// Another browser of the same user does not see it either.
	if other := alice2.get("/"); strings.Contains(other.Body, key) {
		t.Error("alice's other browser shows the new push URL")
	}
}

// Flashes expire: a redirect not followed within minutes shows nothing.
func TestForms_FlashExpires(t *testing.T) {
	app := newTestApp(t)
	alice := app.bindUser(t, "alice")
	alice.post("/sendkey/rotate", nil)
	app.Clock.Advance(6 * time.Minute)
	if page := alice.get("/"); strings.Contains(page.Body, `id="sendkey-url"`) || strings.Contains(page.Body, "已生成推送链接") {
		t.Error("a flash older than its lifetime was shown")
	}
}
