package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

// windowApp is notificationApp with root inside the customer-service
// window (they wrote; WeChat and the site both know) and alice outside it
// (she followed two minutes ago, as far as WeChat is concerned). The
// clock runs a minute behind real time, so deliveries the outbox (on real
// time) must send are due at once.
func windowApp(t *testing.T) (*testApp, string, *browser) {
	t.Helper()
	app := newTestApp(t, plainMode) // the test pushes plaintext events
	app.Clock.Advance(-3 * time.Minute)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	token := admin.createToken("ci")
	app.Clock.Advance(2 * time.Minute) // alice's follow window is over at WeChat
	root := sandbox.OpenID(testAppID, "root")
	if err := app.SB.Say(root, "你好"); err != nil { // WeChat opens root's window…
		t.Fatal(err)
	}
	app.replyText(t, app.push(t, text(root, "你好"), false, 0), false) // …and tells us
	return app, token, admin
}

// TestAPI_TextFallsBackOutsideTheWindow: a text to two users reaches the
// one who wrote to the account as text and the other as the notification
// template; the status says via, the message page 「已改用模板消息」.
func TestAPI_TextFallsBackOutsideTheWindow(t *testing.T) {
	app, token, _ := windowApp(t)
	r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["root","alice"]},"text":"今晚 22:00 维护\n预计 30 分钟"}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	st := waitDone(t, app, token, r.JSON["status_url"].(string))
	via := map[string]string{}
	for _, x := range st.JSON["recipients"].([]any) {
		rc := x.(map[string]any)
		via[rc["user"].(string)] = rc["via"].(string)
		if rc["state"] != "sent" {
			t.Errorf("recipient %v", rc)
		}
	}
	if via["root"] != "text" || via["alice"] != "template" {
		t.Errorf("via %v, want root text and alice template", via)
	}
	card := waitCard(t, app, "alice", "今晚 22:00 维护")
	if !strings.Contains(card.URL, "/m/") || !strings.Contains(joinFields(card), "预计 30 分钟") {
		t.Errorf("alice's card %+v", card)
	}

	// No fallback: alice's delivery fails as before.
	r = app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["alice"]},"text":"只要客服消息","fallback":false}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	st = waitDone(t, app, token, r.JSON["status_url"].(string))
	rc := st.JSON["recipients"].([]any)[0].(map[string]any)
	if rc["state"] != "failed" || rc["errcode"] != float64(45015) || rc["via"] != "text" {
		t.Errorf("no-fallback recipient %v", rc)
	}

	for name, body := range map[string]string{
		"fallback with a template":     `{"to":{"all":true},"template":{"id":"x"},"fallback":false}`,
		"fallback with a notification": `{"to":{"all":true},"title":"x","fallback":false}`,
		"fallback not a boolean":       `{"to":{"all":true},"text":"x","fallback":"no"}`,
	} {
		r := app.api(t, "POST", "/api/v1/messages", token, body)
		if r.Status != http.StatusBadRequest || r.fields()["fallback"] == nil {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

func TestCompose_SaysWhoGetsTextAndWhoTheTemplate(t *testing.T) {
	app, _, admin := windowApp(t)

	page := admin.get("/admin/compose?kind=text")
	for _, want := range []string{`checked id="fallback"`, `<strong id="reach-text">1</strong>`, `<strong id="reach-template">1</strong>`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("compose page lacks %q", want)
		}
	}
	if strings.Contains(page.Body, `id="window-warning"`) {
		t.Error("warns although everyone is reached")
	}
	// Unticking the box: the form's change asks again; one would fail.
	r := admin.post("/admin/compose/reach", url.Values{"kind": {"text"}, "to": {"all"}, "fallback_shown": {"1"}}, "HX-Request", "true")
	if !strings.Contains(r.Body, `<strong id="reach-template">0</strong>`) || !strings.Contains(r.Body, `id="window-warning"`) {
		t.Errorf("reach without fallback:\n%s", r.Body)
	}
	// Only root ticked: all text.
	r = admin.post("/admin/compose/reach", url.Values{"kind": {"text"}, "to": {"users"}, "user": {"1"}, "fallback": {"1"}, "fallback_shown": {"1"}}, "HX-Request", "true")
	if !strings.Contains(r.Body, `<strong id="reach-text">1</strong>`) || !strings.Contains(r.Body, `<strong id="reach-template">0</strong>`) {
		t.Errorf("reach for root alone:\n%s", r.Body)
	}
	// The sent text's message page marks the fallback.
	r = admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"你好"}, "fallback": {"1"}, "fallback_shown": {"1"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("send: %d", r.Status)
	}
	waitCard(t, app, "alice", "你好")
	if body := waitPageDone(t, admin, r.Header.Get("Location")); !strings.Contains(body, "已改用模板消息") {
		t.Errorf("the message page does not say alice got the template:\n%s", body)
	}
}
