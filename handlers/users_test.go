package handlers_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// confirmUser does an account action the way the admin's browser does:
// open the confirmation page, then submit its form.
func (b *browser) confirmUser(name, action string, extra url.Values) resp {
	b.t.Helper()
	u := mustUserTB(b.t, b.app, name)
	path := "/admin/users/" + u.PublicID + "/" + action
	page := b.get(path)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `id="confirm-action"`) {
		b.t.Fatalf("confirmation page %s: %d\n%s", path, page.Status, page.Body)
	}
	form := url.Values{"confirm": {"yes"}}
	for k, v := range extra {
		form[k] = v
	}
	return b.post(path, form)
}

func mustUserTB(t testing.TB, app *testApp, name string) store.User {
	t.Helper()
	u, err := app.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestChangePassword_EndsOtherSessionsKeepsThisOne(t *testing.T) {
	app := newTestApp(t)
	laptop, phone := app.browser(t), app.browser(t)
	laptop.signup("alice")
	phone.login("alice")

	page := laptop.get("/")
	for _, want := range []string{`action="/account/password"`, `name="current"`, "至少 8 个字符"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("account page lacks %q (the form and its hint, before any error)", want)
		}
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"wrong current password", url.Values{"current": {"nope-nope"}, "password": {"brand-new-pw"}, "password2": {"brand-new-pw"}}, 422, "当前密码不正确"},
		{"repeat differs", url.Values{"current": {"password-alice"}, "password": {"brand-new-pw"}, "password2": {"brand-new-pX"}}, 422, "两次输入的密码不一致"},
		{"too short", url.Values{"current": {"password-alice"}, "password": {"short"}, "password2": {"short"}}, 422, "至少需要 8 个字符"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := laptop.post("/account/password", tt.form)
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) || !strings.Contains(r.Body, `id="password-error"`) {
				t.Fatalf("status %d, want %d with %q\n%s", r.Status, tt.status, tt.want, r.Body)
			}
			if !phone.signedIn() {
				t.Fatal("a refused change signed the phone out")
			}
		})
	}

	r := laptop.post("/account/password", url.Values{"current": {"password-alice"}, "password": {"brand-new-pw"}, "password2": {"brand-new-pw"}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/?done=password" {
		t.Fatalf("change: %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if !strings.Contains(laptop.get("/?done=password").Body, "其他设备上的登录已全部退出") {
		t.Error("no flash after the change")
	}
	if phone.signedIn() {
		t.Error("the phone is still signed in after the password change")
	}
	if !laptop.signedIn() {
		t.Error("the browser that changed the password was signed out")
	}
	if r := app.browser(t).post("/login", url.Values{"name": {"alice"}, "password": {"password-alice"}}); !loginRefused(r) {
		t.Errorf("the old password still signs in: %d", r.Status)
	}
	app.browser(t).post("/login", url.Values{"name": {"alice"}, "password": {"brand-new-pw"}})
	if _, err := app.Service.Login(context.Background(), "alice", "brand-new-pw"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

func TestAdminUsers_NonAdminsGet403(t *testing.T) {
	app := newTestApp(t)
	app.browser(t).signup("root")
	plain := app.browser(t)
	plain.signup("plain")
	root := mustUserTB(t, app, "root")
	base := "/admin/users/" + root.PublicID
	for _, p := range []string{base, base + "/disable", base + "/delete"} {
		if r := plain.get(p); r.Status != http.StatusForbidden {
			t.Errorf("GET %s as non-admin: %d", p, r.Status)
		}
	}
	for _, a := range []string{"reset-password", "disable", "enable", "promote", "demote", "delete"} {
		r := plain.post(base+"/"+a, url.Values{"confirm": {"yes"}, "confirm_name": {"root"}})
		if r.Status != http.StatusForbidden {
			t.Errorf("POST %s as non-admin: %d", a, r.Status)
		}
	}
	if u := mustUserTB(t, app, "root"); !u.IsAdmin || u.Disabled() {
		t.Errorf("root changed: %+v", u)
	}
	if u := mustUserTB(t, app, "plain"); u.IsAdmin {
		t.Error("plain promoted itself")
	}
}

// The dashboard's users link to each user's page; every action there asks
// first: a POST without the confirmation goes to it and changes nothing.
func TestAdminUsers_EveryActionAsksFirst(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	app.browser(t).signup("alice")
	alice := mustUserTB(t, app, "alice")

	dash := admin.get("/admin")
	if !strings.Contains(dash.Body, `href="/admin/users/`+alice.PublicID+`"`) {
		t.Fatalf("the dashboard does not link to alice's page:\n%s", dash.Body)
	}
	page := admin.get("/admin/users/" + alice.PublicID)
	for _, want := range []string{"alice", "未绑定", "生成重置密码链接", "停用账号", "设为管理员", "删除账号", "1 个"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("user page lacks %q", want)
		}
	}
	for _, a := range []string{"reset-password", "disable", "promote", "delete"} {
		path := "/admin/users/" + alice.PublicID + "/" + a
		r := admin.post(path, url.Values{"confirm_name": {"alice"}})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Errorf("POST %s without confirmation: %d → %q", a, r.Status, r.Header.Get("Location"))
		}
		if c := admin.get(path); c.Status != 200 || !strings.Contains(c.Body, "alice") || !strings.Contains(c.Body, `name="confirm" value="yes"`) {
			t.Errorf("confirmation page %s: %d", a, c.Status)
		}
	}
	if u := mustUserTB(t, app, "alice"); u.IsAdmin || u.Disabled() {
		t.Errorf("an unconfirmed action changed alice: %+v", u)
	}
	if _, err := app.Store.PasswordResetOf(context.Background(), alice.ID); err == nil {
		t.Error("an unconfirmed reset made a link")
	}
	if r := admin.get("/admin/users/" + alice.PublicID + "/explode"); r.Status != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.Status)
	}
	if r := admin.get("/admin/users/nobody"); r.Status != http.StatusNotFound {
		t.Errorf("unknown user: %d", r.Status)
	}
}

func TestAdminUsers_DisabledUserCannotSignInReceiveOrPush(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	admin := app.bindUser(t, "root")
	aliceB := app.bindUser(t, "alice")
	app.syncTemplates(t)
	key := aliceB.sendKey()
	token := admin.createToken("ci")

	r := admin.confirmUser("alice", "disable", nil)
	alice := mustUserTB(t, app, "alice")
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/admin/users/"+alice.PublicID+"?done=disabled" {
		t.Fatalf("disable: %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if !strings.Contains(admin.get(r.Header.Get("Location")).Body, `id="user-disabled"`) {
		t.Error("the user page does not say 已停用")
	}
	if !strings.Contains(admin.get("/admin").Body, "已停用") {
		t.Error("the dashboard's table does not say 已停用")
	}
	// Sessions gone.
	if aliceB.signedIn() {
		t.Error("alice's session survived")
	}
	// No login, with a clear message on the login page.
	lb := app.browser(t)
	lr := lb.post("/login", url.Values{"name": {"alice"}, "password": {"password-alice"}})
	if !loginRefused(lr) {
		t.Fatalf("login while disabled: %d", lr.Status)
	}
	lr = lb.follow(lr)
	if !strings.Contains(lr.Body, "已被管理员停用") || !strings.Contains(lr.Body, `action="/login"`) {
		t.Errorf("login while disabled: %d\n%s", lr.Status, lr.Body)
	}
	// Her push URL is refused.
	if pr := app.browser(t).get(key + "?title=x"); pr.Status != http.StatusNotFound {
		t.Errorf("push URL while disabled: %d %s", pr.Status, pr.Body)
	}
	// Not a recipient: not offered in the compose form, refused by name.
	if strings.Contains(admin.get("/admin/compose").Body, ">alice<") {
		t.Error("the compose form offers alice")
	}
	ar := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["alice"]},"text":"hi"}`)
	if ar.Status != http.StatusUnprocessableEntity || !strings.Contains(ar.Body, "已停用") {
		t.Errorf("API send to alice: %d %s", ar.Status, ar.Body)
	}
	if ur := app.api(t, "GET", "/api/v1/users", token, ""); !strings.Contains(ur.Body, `"name":"alice","bound":true,"disabled":true`) {
		t.Errorf("API users: %s", ur.Body)
	}
	ar = app.api(t, "POST", "/api/v1/messages", token, `{"to":{"all":true},"text":"hi"}`)
	if ar.Status != http.StatusAccepted || !strings.Contains(ar.Body, `"recipients":1`) {
		t.Errorf("broadcast: %d %s (want root only)", ar.Status, ar.Body)
	}

	// Enabled again: she signs in; the old push URL stays dead.
	if r := admin.confirmUser("alice", "enable", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.Status)
	}
	app.browser(t).login("alice")
	if pr := app.browser(t).get(key + "?title=x"); pr.Status != http.StatusNotFound {
		t.Errorf("old push URL after enable: %d", pr.Status)
	}
	audit := admin.get("/admin").Body
	for _, want := range []string{"停用账号", "启用账号", "用户「alice」"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
}

var resetLinkRe = regexp.MustCompile(`<code id="reset-link" class="copy">([^<]+)</code>`)

func TestAdminUsers_ResetLinkSetsPasswordOnce(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	aliceB := app.browser(t)
	aliceB.signup("alice")

	r := admin.confirmUser("alice", "reset-password", nil)
	m := resetLinkRe.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reset link page: %d %q\n%s", r.Status, r.Header.Get("Cache-Control"), r.Body)
	}
	link := html.UnescapeString(m[1])
	if !strings.HasPrefix(link, app.URL+"/reset-password?token=") {
		t.Fatalf("link %q", link)
	}
	token := strings.TrimPrefix(link, app.URL+"/reset-password?token=")
	alice := mustUserTB(t, app, "alice")
	if strings.Contains(admin.get("/admin/users/"+alice.PublicID).Body, token) {
		t.Error("the user page shows the link again")
	}
	if strings.Contains(admin.get("/admin").Body, token) {
		t.Error("the audit log shows the link")
	}

	user := app.browser(t) // whoever the admin gave the link to
	page := user.get(link)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "alice") || page.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("link page: %d\n%s", page.Status, page.Body)
	}
	bad := user.post("/reset-password", url.Values{"token": {token}, "password": {"new-password-1"}, "password2": {"new-password-2"}})
	if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, "不一致") {
		t.Fatalf("mismatch: %d", bad.Status)
	}
	ok := user.post("/reset-password", url.Values{"token": {token}, "password": {"new-password-1"}, "password2": {"new-password-1"}})
	if ok.Status != http.StatusOK || !strings.Contains(ok.Body, `id="reset-done"`) {
		t.Fatalf("reset: %d\n%s", ok.Status, ok.Body)
	}
	if aliceB.signedIn() {
		t.Error("alice's session survived the reset")
	}
	if lr := app.browser(t).post("/login", url.Values{"name": {"alice"}, "password": {"new-password-1"}}); lr.Status != http.StatusSeeOther {
		t.Errorf("login with the new password: %d", lr.Status)
	}
	// Single use.
	for _, again := range []resp{
		user.get(link),
		user.post("/reset-password", url.Values{"token": {token}, "password": {"third-password"}, "password2": {"third-password"}}),
	} {
		if again.Status != http.StatusGone || !strings.Contains(again.Body, "已经用过") {
			t.Errorf("second use: %d\n%s", again.Status, again.Body)
		}
	}
	// Expiry: an hour.
	r = admin.confirmUser("alice", "reset-password", nil)
	link2 := html.UnescapeString(resetLinkRe.FindStringSubmatch(r.Body)[1])
	app.Clock.Advance(time.Hour)
	if e := user.get(link2); e.Status != http.StatusGone || !strings.Contains(e.Body, "已过期") {
		t.Errorf("expired link: %d", e.Status)
	}
	if e := user.get("/reset-password?token=" + strings.Repeat("A", 32)); e.Status != http.StatusNotFound {
		t.Errorf("unknown link: %d", e.Status)
	}
	if !strings.Contains(admin.get("/admin").Body, "通过链接重置密码") {
		t.Error("the reset is not in the audit log")
	}
}

// The last enabled admin can neither step down nor be locked out, and no
// admin can disable or delete their own account.
func TestAdminUsers_LastAdminStays(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	app.browser(t).signup("alice")

	r := admin.confirmUser("root", "demote", nil)
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, "至少要保留一位启用中的管理员") || !strings.Contains(r.Body, `id="confirm-error"`) {
		t.Fatalf("demoting the last admin: %d\n%s", r.Status, r.Body)
	}
	if r := admin.confirmUser("root", "disable", nil); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "不能停用自己") {
		t.Errorf("disabling oneself: %d", r.Status)
	}
	if r := admin.confirmUser("root", "delete", url.Values{"confirm_name": {"root"}}); r.Status != http.StatusForbidden {
		t.Errorf("deleting oneself: %d", r.Status)
	}
	if !mustUserTB(t, app, "root").IsAdmin {
		t.Fatal("root lost admin rights")
	}
	// With alice an admin, root may step down, and lands on their account page.
	if r := admin.confirmUser("alice", "promote", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("promote: %d", r.Status)
	}
	r = admin.confirmUser("root", "demote", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/?done=demoted" {
		t.Fatalf("demoting oneself with another admin: %d %q", r.Status, r.Header.Get("Location"))
	}
	if admin.get("/admin").Status != http.StatusForbidden {
		t.Error("root still reaches the dashboard")
	}
}

func TestAdminUsers_DeleteKeepsHistoryAnonymised(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	aliceB := app.bindUser(t, "alice")
	m, err := app.Service.Send(context.Background(), service.Actor{Via: "cli", Name: "命令行"},
		service.SendRequest{Kind: store.KindText, Text: "你好", UserNames: []string{"alice", "root"}})
	if err != nil {
		t.Fatal(err)
	}
	msgPage := "/admin/messages/" + strconv.FormatInt(m.ID, 10)
	if !strings.Contains(admin.get(msgPage).Body, "alice") {
		t.Fatal("the message page does not show alice before the deletion")
	}

	r := admin.confirmUser("alice", "delete", url.Values{"confirm_name": {"Alice"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "请输入用户名「alice」") {
		t.Fatalf("wrong confirmation name: %d\n%s", r.Status, r.Body)
	}
	r = admin.confirmUser("alice", "delete", url.Values{"confirm_name": {"alice"}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/admin?done=deleted#users" {
		t.Fatalf("delete: %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if aliceB.signedIn() {
		t.Error("alice's session survived the deletion")
	}
	page := admin.get(msgPage).Body
	if !strings.Contains(page, store.DeletedUserName) || strings.Contains(page, ">alice<") {
		t.Errorf("message page after the deletion:\n%s", page)
	}
	dash := admin.get("/admin?done=deleted").Body
	if !strings.Contains(dash, "用户已删除") || !strings.Contains(dash, "删除账号") {
		t.Error("no flash or audit entry after the deletion")
	}
	if strings.Contains(dash, `>alice</a>`) {
		t.Error("the dashboard still lists alice")
	}
	if m2, _ := app.Store.Message(context.Background(), m.ID); m2.Total != 2 {
		t.Errorf("message total %d after the deletion, want 2 (history kept)", m2.Total)
	}
}

// Item 12 over the real endpoint: a tricked one-scan bind is undone by
// replying 解绑, and the owner's account page shows it unbound.
func TestReceive_UnbindKeywordUndoesATrickedScan(t *testing.T) {
	app := newTestApp(t)
	mallory := app.browser(t)
	mallory.signup("mallory")
	u := mustUserTB(t, app, "mallory")
	token, _, err := app.Store.NewBindToken(context.Background(), u.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The victim scans mallory's code.
	reply := app.replyText(t, app.push(t, event("oVictim", "subscribe", "qrscene_bind_"+token), true, 0), true)
	if !strings.Contains(reply, "已绑定账号「mallory」") || !strings.Contains(reply, "如非本人操作，请回复「解绑」") {
		t.Fatalf("bind reply %q", reply)
	}
	reply = app.replyText(t, app.push(t, text("oVictim", "解绑"), true, 0), true)
	if !strings.Contains(reply, "已解除这个微信与账号「mallory」的绑定") {
		t.Fatalf("解绑 reply %q", reply)
	}
	if !strings.Contains(mallory.get("/").Body, `id="binding-state">未绑定`) {
		t.Error("mallory's account page still shows a binding")
	}
	if reply := app.replyText(t, app.push(t, text("oVictim", "状态"), true, 0), true); !strings.Contains(reply, "还没有绑定") {
		t.Errorf("状态 after 解绑: %q", reply)
	}
	entries, _ := app.Store.AuditLog(context.Background(), 5)
	if len(entries) == 0 || entries[0].Action != "binding.unbind" || !strings.Contains(entries[0].Detail, "解绑") {
		t.Errorf("audit %+v", entries)
	}
}

func TestChangePassword_TooManyWrongCurrentPasswords(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	wrong := url.Values{"current": {"guess-guess"}, "password": {"brand-new-pw"}, "password2": {"brand-new-pw"}}
	for range 5 {
		if r := b.post("/account/password", wrong); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong password: %d", r.Status)
		}
	}
	r := b.post("/account/password", url.Values{"current": {"password-alice"}, "password": {"brand-new-pw"}, "password2": {"brand-new-pw"}})
	// Three minutes, counted on the app's clock, while Retry-After is
	// counted from the real now: allow for the seconds the test took.
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); r.Status != http.StatusTooManyRequests || ra < 120 || ra > 180 || !strings.Contains(r.Body, "尝试次数过多") {
		t.Fatalf("sixth attempt: %d Retry-After %q\n%s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if _, err := app.Service.Login(context.Background(), "alice", "password-alice"); err != nil {
		t.Error("the refused attempt changed the password")
	}
}
