package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/store"
)

// login signs name in on this browser (its password as signup set it).
func (b *browser) login(name string, hdr ...string) {
	b.t.Helper()
	r := b.post("/login", url.Values{"name": {name}, "password": {"password-" + name}}, hdr...)
	if !loginOK(r) {
		b.t.Fatalf("login %s: %d\n%s", name, r.Status, r.Body)
	}
}

// withCookie is a fresh browser holding only a copy of c.
func (a *testApp) withCookie(t *testing.T, c *http.Cookie) *browser {
	b := a.browser(t)
	u, _ := url.Parse(a.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	return b
}

func (b *browser) signedIn() bool {
	b.t.Helper()
	r := b.get("/")
	switch {
	case r.Status == http.StatusOK:
		return true
	case r.Status == http.StatusSeeOther && r.Header.Get("Location") == "/login":
		return false
	}
	b.t.Fatalf("GET /: %d %q", r.Status, r.Header.Get("Location"))
	return false
}

var sessionRow = regexp.MustCompile(`(?s)<tr data-session-id="(\d+)">(.*?)</tr>`)

// sessionIDs reads the account page's 登录设备 list: the current session's
// id and the others'.
func (b *browser) sessionIDs() (current string, others []string) {
	b.t.Helper()
	r := b.get("/")
	for _, m := range sessionRow.FindAllStringSubmatch(r.Body, -1) {
		if strings.Contains(m[2], "当前设备") {
			current = m[1]
		} else {
			others = append(others, m[1])
		}
	}
	return current, others
}

func TestLogout_CopiedCookieNoLongerWorks(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	copied := b.cookie()
	thief := app.withCookie(t, copied)
	if !thief.signedIn() {
		t.Fatal("the copied cookie does not work before logout: the test proves nothing")
	}
	r := b.post("/logout", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", r.Status, r.Header.Get("Location"))
	}
	if !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout does not clear the cookie: %q", r.Header.Get("Set-Cookie"))
	}
	if thief.signedIn() {
		t.Fatal("a cookie copied before logout still signs in after it")
	}
	if r := thief.get("/bind/status?t=1", "HX-Request", "true"); r.Status != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/login" {
		t.Errorf("poll with the copied cookie: %d %q", r.Status, r.Header.Get("HX-Redirect"))
	}
}

// Signing in always starts a new session: a session id known before
// (planted by someone, or the previous user's) is not signed in by it.
func TestLogin_StartsANewSession(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	before := b.cookie()
	b.login("alice")
	after := b.cookie()
	if after == nil || after.Value == before.Value {
		t.Fatal("login kept the session token the browser had")
	}
	if app.withCookie(t, before).signedIn() {
		t.Error("the session from before the new login still works")
	}
	if !b.signedIn() {
		t.Error("the new session does not work")
	}
}

func TestAccountSessions_EndingAnotherLogsThatBrowserOut(t *testing.T) {
	app := newTestApp(t)
	laptop, phone := app.browser(t), app.browser(t)
	laptop.signup("alice")
	phone.login("alice", "User-Agent",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40")

	r := laptop.get("/")
	for _, want := range []string{"登录设备", "当前设备", "微信 · iPhone", "<code>127.0.0.1</code>", "退出其他设备"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	cur, others := laptop.sessionIDs()
	if cur == "" || len(others) != 1 {
		t.Fatalf("sessions listed: current %q, others %v; want one of each", cur, others)
	}
	if strings.Contains(r.Body, `action="/account/sessions/`+cur+`/end"`) {
		t.Error("the current session has an end button; logging out is the way to end it")
	}

	r = laptop.post("/account/sessions/"+others[0]+"/end", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/#sessions" {
		t.Fatalf("end session: %d %q", r.Status, r.Header.Get("Location"))
	}
	if r := laptop.follow(r); !strings.Contains(r.Body, "已退出该设备") {
		t.Error("no flash after ending a session")
	}
	if phone.signedIn() {
		t.Fatal("the ended session still signs the phone in")
	}
	if !laptop.signedIn() {
		t.Fatal("ending the phone's session logged the laptop out")
	}
	if _, others := laptop.sessionIDs(); len(others) != 0 {
		t.Errorf("ended session still listed: %v", others)
	}
	// Ending it again: it is gone.
	if r := laptop.post("/account/sessions/"+others[0]+"/end", nil); r.Status != http.StatusNotFound {
		t.Errorf("ending an ended session: %d, want 404", r.Status)
	}
}

func TestAccountSessions_EndOthersKeepsThisOne(t *testing.T) {
	app := newTestApp(t)
	a, b, c := app.browser(t), app.browser(t), app.browser(t)
	a.signup("alice")
	b.login("alice")
	c.login("alice")
	bob := app.browser(t)
	bob.signup("bob")

	r := a.post("/account/sessions/end-others", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/#sessions" {
		t.Fatalf("end others: %d %q", r.Status, r.Header.Get("Location"))
	}
	if r := a.follow(r); !strings.Contains(r.Body, "已退出其他所有设备") || strings.Contains(r.Body, `id="end-other-sessions"`) {
		t.Errorf("after ending the others: flash missing or the button still offered")
	}
	if b.signedIn() || c.signedIn() {
		t.Fatal("another session survived 退出其他设备")
	}
	if !a.signedIn() {
		t.Fatal("退出其他设备 logged this browser out")
	}
	if !bob.signedIn() {
		t.Fatal("退出其他设备 ended another user's session")
	}
}

func TestAccountSessions_CannotEndSomeoneElses(t *testing.T) {
	app := newTestApp(t)
	alice, bob := app.browser(t), app.browser(t)
	alice.signup("alice")
	bob.signup("bob")
	aliceID, _ := alice.sessionIDs()
	if aliceID == "" {
		t.Fatal("alice's session not listed")
	}
	r := bob.post("/account/sessions/"+aliceID+"/end", nil)
	if r.Status != http.StatusNotFound || !strings.Contains(r.Body, "这个登录设备不存在或已经退出") {
		t.Fatalf("bob ending alice's session: %d\n%s", r.Status, r.Body)
	}
	if !alice.signedIn() {
		t.Fatal("bob ended alice's session")
	}
	if !bob.signedIn() {
		t.Fatal("the refused attempt logged bob out")
	}
	for _, id := range []string{"abc", "0", "-1", "99999999999999999999"} {
		if r := bob.post("/account/sessions/"+id+"/end", nil); r.Status != http.StatusBadRequest {
			t.Errorf("id %q: %d, want 400", id, r.Status)
		}
	}
	// A cross-site form cannot end sessions either.
	r = bob.post("/account/sessions/end-others", nil, "Sec-Fetch-Site", "cross-site")
	if r.Status != http.StatusForbidden {
		t.Errorf("cross-site end-others: %d, want 403", r.Status)
	}
}

func TestAccountSessions_EndingThisOneSignsOut(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	cur, _ := b.sessionIDs()
	r := b.post("/account/sessions/"+cur+"/end", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("ending the current session: %d %q", r.Status, r.Header.Get("Location"))
	}
	if b.signedIn() {
		t.Fatal("still signed in")
	}
}

func TestSession_ExpiresThirtyDaysAfterLogin(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	app.Clock.Advance(store.SessionLifetime / 2)
	if !b.signedIn() {
		t.Fatal("signed out halfway through the session's life")
	}
	app.Clock.Advance(store.SessionLifetime / 2)
	if b.signedIn() {
		t.Fatal("still signed in 30 days after login")
	}
}
