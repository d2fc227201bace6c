package handlers_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The users table and the compose form show when each user's
// customer-service window really ends and how many texts it still allows,
// not a fixed 「48h 内互动」.
func TestWindow_TablesShowTheRealWindowEnd(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	openid := app.SB.AddUser("root").OpenID
	wrote := app.Clock.Now()
	app.replyText(t, app.push(t, text(openid, "你好"), true, 0), true)

	until := wrote.Add(48*time.Hour).In(time.FixedZone("CST", 8*3600)).Format("01-02 15:04") + " 北京时间"
	for _, p := range []string{"/admin", "/admin/compose"} {
		body := admin.get(p).Body
		if !strings.Contains(body, "客服消息窗口至 "+until+"，还可 5 条") || strings.Contains(body, "48h 内互动") {
			t.Errorf("%s does not show the window's end (%s) and its 5 texts", p, until)
		}
	}
	// Two texts use two of the five.
	for range 2 {
		r := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"在吗"}})
		waitPageDone(t, admin, r.Header.Get("Location"))
	}
	if body := admin.get("/admin").Body; !strings.Contains(body, "客服消息窗口至 "+until+"，还可 3 条") {
		t.Error("the dashboard does not count the texts sent in the window")
	}
	// 48 hours after the message, the window is shut.
	app.Clock.Advance(48*time.Hour + time.Minute)
	if body := admin.get("/admin").Body; strings.Contains(body, "客服消息窗口至") {
		t.Error("the window is still shown open 48 hours after the user wrote")
	}
}

// Choosing 客服消息 shows at once how many recipients a text reaches now
// and what happens to the others; the live check answers the same.
func TestCompose_TextShowsItsReachBeforeSending(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	openid := app.SB.AddUser("root").OpenID
	app.replyText(t, app.push(t, text(openid, "你好"), true, 0), true)

	page := admin.get("/admin/compose?kind=text").Body
	if !regexp.MustCompile(`选中的 2 位接收人中，<strong>1 位</strong>现在能收到客服消息`).MatchString(page) || !strings.Contains(page, "root（至 ") {
		t.Errorf("compose (text) does not say who can receive it now:\n%s", page)
	}
	if !strings.Contains(page, `id="window-rest"`) || !strings.Contains(page, "其余 1 位不在客服消息窗口内") ||
		!strings.Contains(page, `id="reach-summary"`) {
		t.Error("compose (text) does not say what happens to the others")
	}
	// The live check, as the form posts it when 客服消息 is chosen.
	r := admin.post("/admin/compose/check", url.Values{"kind": {"text"}, "to": {"all"}, "text": {""}}, "HX-Request", "true")
	if !strings.Contains(r.Body, `id="windows" class="reach" hx-swap-oob="true"`) || !strings.Contains(r.Body, "其余 1 位") {
		t.Errorf("the live check does not update the reach:\n%s", r.Body)
	}
	// Template messages have no window: nothing said.
	if page := admin.get("/admin/compose?kind=template").Body; strings.Contains(page, `id="reach-now"`) {
		t.Error("the reach is shown for a template message")
	}
}

// The live check applies the send's rules to the form as it stands: each
// field's problem, named by its label, and 发送 disabled until none is left.
func TestCompose_LiveCheckMatchesTheSend(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	tid := templateID(t, app, "服务状态通知") // 服务名称 thing1, 状态 phrase2, 时间 time3
	check := func(form url.Values) string {
		t.Helper()
		return admin.post("/admin/compose/check", form, "HX-Request", "true").Body
	}
	form := url.Values{"kind": {"template"}, "to": {"all"}, "template_id": {tid},
		"data.thing1": {"数据库"}, "data.phrase2": {"abcdef"}, "data.time3": {"15:01"}}
	body := check(form)
	errLine := regexp.MustCompile(`<p class="field-error" id="err-data-phrase2" data-error-for="data.phrase2" hx-swap-oob="true">([^<]*)</p>`).FindStringSubmatch(body)
	if errLine == nil || !strings.HasPrefix(errLine[1], "「状态」") || strings.Contains(errLine[1], "phrase2") {
		t.Fatalf("phrase2's error line: %v\n%s", errLine, body)
	}
	if !strings.Contains(body, `id="send" disabled`) || !strings.Contains(body, "发送前还需处理：「状态」") {
		t.Errorf("发送 is not disabled while 状态 is wrong:\n%s", body)
	}
	if !strings.Contains(body, `<p class="field-error" id="err-data-thing1" data-error-for="data.thing1" hx-swap-oob="true"></p>`) {
		t.Error("a valid field's error line is not cleared")
	}
	form.Set("data.phrase2", "正常")
	body = check(form)
	if strings.Contains(body, `id="send" disabled`) || !strings.Contains(body, "可以发送") {
		t.Errorf("发送 stays disabled for a valid form:\n%s", body)
	}
	// The page itself starts with 发送 disabled: nothing is filled in.
	if page := admin.get("/admin/compose?template=" + url.QueryEscape(tid)).Body; !strings.Contains(page, `id="send" disabled`) ||
		!strings.Contains(page, "请填写「服务名称」") {
		t.Error("the compose page starts with 发送 enabled, or does not say what is missing")
	}
}

// A text that failed because the user's window was shut (45015) is not
// offered a retry — it would fail again — but a template message to the
// same users is.
func TestMessage_NoRetryForWindowFailuresButTheTemplate(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	if err := app.SB.SetFollowing(app.SB.AddUser("root").OpenID, false); err != nil {
		t.Fatal(err)
	}
	r := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"你好"}})
	loc := r.Header.Get("Location")
	page := waitPageDone(t, admin, loc)
	if !strings.Contains(page, "45015") {
		t.Fatalf("the text did not fail with 45015:\n%s", page)
	}
	if strings.Contains(page, `id="retry-failed"`) {
		t.Error("重试 offered for 45015")
	}
	want := fmt.Sprintf(`href="/admin/compose?kind=template&amp;to=users&amp;user=%d"`, mustUser(t, app, "root").ID)
	if !strings.Contains(page, `id="use-template"`) || !strings.Contains(page, want) {
		t.Errorf("no 改用模板消息 link (%s):\n%s", want, page)
	}
	// Posting the retry anyway re-queues nothing.
	if f := admin.follow(admin.post(loc+"/retry", nil)); !strings.Contains(f.Body, "已重新排队 0 条") {
		t.Error("a forced retry re-queued a 45015 failure")
	}
	// The template link opens the form with that user chosen.
	form := admin.get("/admin/compose?kind=template&to=users&user=" + fmt.Sprint(mustUser(t, app, "root").ID)).Body
	if !regexp.MustCompile(`value="` + fmt.Sprint(mustUser(t, app, "root").ID) + `" checked`).MatchString(form) {
		t.Error("the template form does not have the user ticked")
	}
}

func templateID(t *testing.T, app *testApp, title string) string {
	t.Helper()
	ts, _ := app.Store.Templates(t.Context())
	for _, x := range ts {
		if x.Title == title {
			return x.ID
		}
	}
	t.Fatalf("no template %q", title)
	return ""
}
