package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

func TestBind_QRPageThenPhoneAllowsThenStatusSwapsToSuccess(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")

	r := b.get("/bind")
	for _, want := range []string{`id="bind-qr"`, `src="data:image/png;base64,`, "用模拟手机打开授权页", `hx-trigger="every 2s"`, "关注公众号"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("/bind lacks %q", want)
		}
	}
	authURL, tid := b.bindQR()
	u, _ := url.Parse(authURL)
	if !strings.HasSuffix(authURL, "#wechat_redirect") || u.Query().Get("scope") != "snsapi_userinfo" ||
		u.Query().Get("redirect_uri") != app.URL+"/wechat/oauth/callback" || len(state(t, authURL)) != store.BindTokenLen {
		t.Fatalf("authorize URL %q", authURL)
	}

	// While nobody has scanned, the poll returns the waiting line.
	r = b.get("/bind/status?t="+tid, "HX-Request", "true")
	if r.Status != 200 || !strings.Contains(r.Body, "等待扫码") || r.Header.Get("HX-Retarget") != "" {
		t.Fatalf("pending poll: %d %v\n%s", r.Status, r.Header, r.Body)
	}

	cb := app.phoneDecides(t, authURL, "张三", true)
	phone := app.browser(t) // the phone has no session on the site
	r = phone.get(cb)
	if r.Status != 200 || !strings.Contains(r.Body, "绑定成功") || !strings.Contains(r.Body, "alice") {
		t.Fatalf("callback: %d\n%s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, "width=device-width") {
		t.Error("the phone page is not built for a phone screen")
	}
	openid := app.SB.AddUser("张三").OpenID
	if strings.Contains(r.Body, openid) {
		t.Error("the phone page shows the full openid; it should be masked")
	}

	r = b.get("/bind/status?t="+tid, "HX-Request", "true")
	if r.Status != 200 || !strings.Contains(r.Body, "绑定成功") || r.Header.Get("HX-Retarget") != "#bind-panel" {
		t.Fatalf("poll after binding: %d %v\n%s", r.Status, r.Header, r.Body)
	}
	if strings.Contains(r.Body, "hx-trigger") {
		t.Error("the success fragment must not keep polling")
	}
	bd, err := app.Store.Binding(t.Context(), mustUser(t, app, "alice").ID)
	if err != nil || bd.OpenID != openid || bd.Nickname != "张三" {
		t.Fatalf("binding = %+v, %v", bd, err)
	}
	r = b.get("/")
	if !strings.Contains(r.Body, "已绑定") || !strings.Contains(r.Body, "张三") {
		t.Fatalf("account page does not show the binding:\n%s", r.Body)
	}
}

func mustUser(t *testing.T, app *testApp, name string) store.User {
	t.Helper()
	u, err := app.Store.UserByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestBindCallback_StateErrors(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	phone := app.browser(t)

	// A forged state: well-formed but never issued.
	authURL, _ := b.bindQR()
	forged := app.phoneDecides(t, strings.Replace(authURL, "state="+state(t, authURL), "state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1), "张三", true)
	if r := phone.get(forged); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "二维码无效") {
		t.Errorf("forged state: %d\n%s", r.Status, r.Body)
	}
	// A malformed state never reaches the database.
	if r := phone.get("/wechat/oauth/callback?code=x&state=" + url.QueryEscape("a'b")); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "二维码无效") {
		t.Errorf("malformed state: %d\n%s", r.Status, r.Body)
	}
	if r := phone.get("/wechat/oauth/callback"); r.Status != http.StatusBadRequest {
		t.Errorf("no parameters: %d", r.Status)
	}

	// Used once, then reused with a fresh code.
	authURL, _ = b.bindQR()
	if r := phone.get(app.phoneDecides(t, authURL, "张三", true)); r.Status != 200 {
		t.Fatalf("first use: %d\n%s", r.Status, r.Body)
	}
	r := phone.get(app.phoneDecides(t, authURL, "张三", true))
	if r.Status != http.StatusGone || !strings.Contains(r.Body, "二维码已使用") {
		t.Errorf("reused state: %d\n%s", r.Status, r.Body)
	}

	// Expired: the clock passes the 10-minute lifetime.
	authURL, tid := b.bindQR()
	cb := app.phoneDecides(t, authURL, "李四", true)
	app.Clock.Advance(10*time.Minute + time.Second)
	r = phone.get(cb)
	if r.Status != http.StatusGone || !strings.Contains(r.Body, "二维码已过期") {
		t.Errorf("expired state: %d\n%s", r.Status, r.Body)
	}
	r = b.get("/bind/status?t="+tid, "HX-Request", "true")
	if !strings.Contains(r.Body, "二维码已过期") || !strings.Contains(r.Body, `hx-post="/bind/refresh"`) || r.Header.Get("HX-Retarget") != "#bind-panel" {
		t.Errorf("expired poll should offer a fresh QR: %v\n%s", r.Header, r.Body)
	}
	r = b.post("/bind/refresh", nil, "HX-Request", "true")
	if r.Status != 200 || !strings.Contains(r.Body, `id="bind-qr"`) || !strings.Contains(r.Body, "every 2s") {
		t.Errorf("refresh: %d\n%s", r.Status, r.Body)
	}
	// Someone else's token id is not found.
	other := app.browser(t)
	other.signup("bob")
	if r := other.get("/bind/status?t="+tid, "HX-Request", "true"); r.Status != http.StatusNotFound {
		t.Errorf("another user's token: %d", r.Status)
	}
	if r := b.get("/bind/status?t=abc", "HX-Request", "true"); r.Status != http.StatusBadRequest {
		t.Errorf("bad token id: %d", r.Status)
	}
}

func TestBindCallback_RefusalKeepsTheQRUsable(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	phone := app.browser(t)
	authURL, _ := b.bindQR()
	cb := app.phoneDecides(t, authURL, "张三", false)
	if strings.Contains(cb, "code=") {
		t.Fatalf("refusal redirect carries a code: %s", cb)
	}
	r := phone.get(cb)
	if r.Status != 200 || !strings.Contains(r.Body, "你取消了授权") {
		t.Fatalf("refusal: %d\n%s", r.Status, r.Body)
	}
	if r := phone.get(app.phoneDecides(t, authURL, "张三", true)); r.Status != 200 || !strings.Contains(r.Body, "绑定成功") {
		t.Fatalf("allow after refusal: %d\n%s", r.Status, r.Body)
	}
}

func TestBindCallback_OpenIDAlreadyBoundElsewhere(t *testing.T) {
	app := newTestApp(t)
	alice, bob := app.browser(t), app.browser(t)
	alice.signup("alice")
	bob.signup("bob")
	phone := app.browser(t)

	authURL, _ := alice.bindQR()
	if r := phone.get(app.phoneDecides(t, authURL, "张三", true)); r.Status != 200 {
		t.Fatalf("alice binds: %d", r.Status)
	}
	authURL, tid := bob.bindQR()
	r := phone.get(app.phoneDecides(t, authURL, "张三", true))
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, "该微信已绑定其他账号") {
		t.Fatalf("same WeChat for bob: %d\n%s", r.Status, r.Body)
	}
	if _, err := app.Store.Binding(t.Context(), mustUser(t, app, "bob").ID); err == nil {
		t.Error("bob got bound to alice's openid")
	}
	if r := bob.get("/bind/status?t="+tid, "HX-Request", "true"); !strings.Contains(r.Body, "等待扫码") {
		t.Errorf("bob's QR should still be waiting:\n%s", r.Body)
	}
	// Bob's QR still works with another WeChat.
	if r := phone.get(app.phoneDecides(t, authURL, "李四", true)); r.Status != 200 {
		t.Fatalf("bob with his own WeChat: %d\n%s", r.Status, r.Body)
	}
}

func TestBindCallback_CodeUsedTwice(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	phone := app.browser(t)
	authURL, _ := b.bindQR()
	cb := app.phoneDecides(t, authURL, "张三", true)
	// Replaying the exact redirect: the state is spent by then.
	phone.get(cb)
	r := phone.get(cb)
	if r.Status != http.StatusGone {
		t.Fatalf("replayed callback: %d\n%s", r.Status, r.Body)
	}
	// A used code with a fresh state: WeChat refuses the code (40163).
	authURL2, _ := b.bindQR()
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", state(t, authURL2))
	r = phone.get("/wechat/oauth/callback?" + q.Encode())
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "授权已失效") {
		t.Fatalf("used code: %d\n%s", r.Status, r.Body)
	}
}

func TestUnbind(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	authURL, _ := b.bindQR()
	app.browser(t).get(app.phoneDecides(t, authURL, "张三", true))
	r := b.follow(b.post("/unbind", nil))
	if !strings.Contains(r.Body, "已解除微信绑定") || !strings.Contains(r.Body, "未绑定") {
		t.Fatalf("account page after unbind:\n%s", r.Body)
	}
	if r := b.get("/"); strings.Contains(r.Body, "已解除微信绑定") {
		t.Error("a reload shows the notice again")
	}
	// The freed openid can bind again.
	authURL, _ = b.bindQR()
	if r := app.browser(t).get(app.phoneDecides(t, authURL, "张三", true)); r.Status != 200 {
		t.Fatalf("rebind: %d", r.Status)
	}
}
