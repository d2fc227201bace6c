package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/store"
)

func TestSignupLoginLogout(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)

	if r := b.get("/"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("signed out GET / = %d %q, want redirect to /login", r.Status, r.Header.Get("Location"))
	}
	b.signup("alice")
	r := b.get("/")
	if r.Status != 200 || !strings.Contains(r.Body, "alice") || !strings.Contains(r.Body, "管理员") {
		t.Fatalf("account page after sign-up: %d\n%s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, "未绑定") {
		t.Error("new account should show 未绑定")
	}
	if r := b.post("/logout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := b.get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("after logout GET / = %d, want redirect", r.Status)
	}

	// A refused login answers 303 back to the form, which says why and
	// keeps the name; reloading it repeats no attempt.
	r = b.post("/login", url.Values{"name": {"alice"}, "password": {"wrong-password"}, "next": {"/bind"}})
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != "/login?next=%2Fbind" {
		t.Fatalf("wrong password: %d %q, want 303 to the login form", r.Status, loc)
	}
	r = b.follow(r)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "用户名或密码错误") {
		t.Fatalf("login form after a wrong password: %d\n%s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, `value="alice"`) || !strings.Contains(r.Body, `name="next" value="/bind"`) {
		t.Error("the name typed (and where to go next) should stay in the form after a wrong password")
	}
	if again := b.get("/login?next=%2Fbind"); strings.Contains(again.Body, "用户名或密码错误") {
		t.Error("reloading the form shows the error again")
	}
	r = b.post("/login", url.Values{"name": {"alice"}, "password": {"password-alice"}, "next": {"/bind"}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/bind" {
		t.Fatalf("login: %d %q", r.Status, r.Header.Get("Location"))
	}
	if r := b.get("/"); r.Status != 200 {
		t.Fatalf("after login GET / = %d", r.Status)
	}
}

func TestLogin_NextStaysOnSite(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	b.post("/logout", nil)
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		r := b.post("/login", url.Values{"name": {"alice"}, "password": {"password-alice"}, "next": {next}})
		if loc := r.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q, want /", next, loc)
		}
	}
}

func TestSignup_InvalidInputShowsErrorAndKeepsName(t *testing.T) {
	app := newTestApp(t)
	app.browser(t).signup("taken")
	tests := []struct {
		name, user, pw, pw2 string
		msg                 string
	}{
		{"empty name", "", "password-1", "password-1", "请填写用户名"},
		{"bad characters", "a b<c>", "password-1", "password-1", "用户名需为 2–32 个字符"},
		{"too short name", "a", "password-1", "password-1", "用户名需为 2–32 个字符"},
		{"short password", "bob", "short", "short", "密码至少需要 8 个字符"},
		{"password mismatch", "bob", "password-1", "password-2", "两次输入的密码不一致"},
		{"name taken", "Taken", "password-1", "password-1", "已被占用"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := app.browser(t)
			// Refused: 303 back to the form, which says why and keeps
			// the name (never the passwords).
			r := b.follow(b.post("/signup", url.Values{"name": {tt.user}, "password": {tt.pw}, "password2": {tt.pw2}}))
			if r.Status != http.StatusOK || !strings.Contains(r.Body, tt.msg) {
				t.Fatalf("status %d, want the form with %q\n%s", r.Status, tt.msg, r.Body)
			}
			if tt.user != "" && !strings.Contains(r.Body, `value="`+htmlEscape(tt.user)+`"`) {
				t.Errorf("form lost the name %q", tt.user)
			}
			if strings.Contains(r.Body, tt.pw) && tt.pw != tt.user {
				t.Error("the refused form shows the password typed")
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestSignup_AdminCanCloseIt(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	other := app.browser(t)
	other.signup("user1") // open by default

	if r := other.post("/settings/signup", url.Values{"open": {"0"}}); r.Status != http.StatusForbidden {
		t.Fatalf("non-admin toggling sign-up: %d, want 403", r.Status)
	}
	if r := admin.post("/settings/signup", url.Values{"open": {"maybe"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad value: %d, want 400", r.Status)
	}
	if r := admin.post("/settings/signup", url.Values{"open": {"0"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("admin closing sign-up: %d", r.Status)
	}
	stranger := app.browser(t)
	if r := stranger.get("/signup"); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "管理员已关闭注册") {
		t.Fatalf("GET /signup when closed: %d\n%s", r.Status, r.Body)
	}
	r := stranger.follow(stranger.post("/signup", url.Values{"name": {"late"}, "password": {"password-1"}, "password2": {"password-1"}}))
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "管理员已关闭注册") {
		t.Fatalf("POST /signup when closed, then the form: %d", r.Status)
	}
	if _, err := app.Store.UserByName(t.Context(), "late"); err == nil {
		t.Error("an account was created while sign-up was closed")
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	tests := []struct {
		name string
		hdr  []string
	}{
		{"sec-fetch-site cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	}
	for _, tt := range tests {
		for _, path := range []string{"/logout", "/unbind", "/bind/refresh", "/settings/signup", "/signup", "/login"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				r := b.post(path, url.Values{"open": {"0"}}, tt.hdr...)
				if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "来自其他网站") {
					t.Fatalf("status %d, want 403 with an explanation\n%s", r.Status, r.Body)
				}
			})
		}
	}
	// Still signed in: the forged logout did nothing.
	if r := b.get("/"); r.Status != 200 {
		t.Fatalf("GET / after forged requests: %d", r.Status)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	r := b.post("/signup", url.Values{"name": {"alice"}, "password": {"password-1"}, "password2": {"password-1"}})
	c := r.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(c, want) {
			t.Errorf("session cookie %q lacks %s", c, want)
		}
	}
	if strings.Contains(c, "Secure") {
		t.Errorf("plain-http base URL should not set Secure: %q", c)
	}
}

func TestFragmentRequestWithoutSessionRedirectsToLogin(t *testing.T) {
	app := newTestApp(t)
	r := app.browser(t).get("/bind/status?t=1", "HX-Request", "true")
	if r.Status != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/login" {
		t.Fatalf("status %d HX-Redirect %q", r.Status, r.Header.Get("HX-Redirect"))
	}
}

// Sessions live in the database: a restarted server (a new store and
// session store on the same database, cold caches) still accepts
// yesterday's cookie.
func TestSessionSurvivesRestart(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	cookie := b.cookie()
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	st, err := store.Open(t.Context(), app.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	restarted := handlers.NewSessionStore(st, false)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	se, err := restarted.Current(req)
	if err != nil {
		t.Fatalf("a restarted server cannot find the session: %v", err)
	}
	if se.UserID != mustUser(t, app, "alice").ID {
		t.Errorf("session of user %d", se.UserID)
	}
	sess, err := restarted.Get(req, "wxpush_session")
	if err != nil || sess.IsNew || sess.Values["uid"] != se.UserID {
		t.Errorf("sessions.Store Get = %+v, %v", sess, err)
	}
}
