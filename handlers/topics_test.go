package handlers_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

// topicsApp is notificationApp with two topics made on the dashboard:
// ops (users may subscribe themselves) and board (admins add members).
func topicsApp(t *testing.T) (*testApp, string, *browser) {
	t.Helper()
	app, token := notificationApp(t)
	admin := app.browser(t)
	admin.login("root")
	for _, f := range []url.Values{
		{"slug": {"ops"}, "name": {"运维告警"}, "description": {"服务器和 CI 的告警"}, "self_subscribe": {"1"}},
		{"slug": {"board"}, "name": {"董事会"}},
	} {
		if r := admin.post("/admin/topics", f); r.Status != http.StatusSeeOther {
			t.Fatalf("create topic %s: %d\n%s", f.Get("slug"), r.Status, r.Body)
		}
	}
	return app, token, admin
}

func TestAPI_TopicsMembershipAndSends(t *testing.T) {
	app, token, _ := topicsApp(t)
	app.browser(t).signup("carol") // not bound

	r := app.api(t, "GET", "/api/v1/topics", token, "")
	topics, _ := r.JSON["topics"].([]any)
	if r.Status != 200 || len(topics) != 2 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	// PUT is idempotent; DELETE too.
	for i, want := range []bool{true, false} {
		r := app.api(t, "PUT", "/api/v1/topics/ops/subscribers/alice", token, "")
		if r.Status != 200 || r.JSON["changed"] != want || r.JSON["subscribed"] != true || r.JSON["subscribers"] != float64(1) {
			t.Fatalf("PUT #%d: %d %s", i, r.Status, r.Body)
		}
	}
	for _, p := range []string{"/api/v1/topics/board/subscribers/alice", "/api/v1/topics/board/subscribers/root",
		"/api/v1/topics/ops/subscribers/carol", "/api/v1/topics/board/subscribers/carol"} {
		if r := app.api(t, "PUT", p, token, ""); r.Status != 200 {
			t.Fatalf("PUT %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := app.api(t, "DELETE", "/api/v1/topics/board/subscribers/carol", token, ""); r.Status != 200 || r.JSON["changed"] != true {
		t.Errorf("DELETE: %d %s", r.Status, r.Body)
	}
	if r := app.api(t, "DELETE", "/api/v1/topics/board/subscribers/carol", token, ""); r.Status != 200 || r.JSON["changed"] != false {
		t.Errorf("DELETE again: %d %s", r.Status, r.Body)
	}
	for path, code := range map[string]string{
		"/api/v1/topics/nope/subscribers/alice": "unknown_topic",
		"/api/v1/topics/ops/subscribers/ghost":  "unknown_user",
	} {
		if r := app.api(t, "PUT", path, token, ""); r.Status != 404 || r.errCode() != code {
			t.Errorf("PUT %s: %d %s, want 404 %s", path, r.Status, r.Body, code)
		}
	}
	r = app.api(t, "GET", "/api/v1/topics", token, "")
	for _, x := range r.JSON["topics"].([]any) {
		tp := x.(map[string]any)
		if tp["slug"] == "ops" && (tp["subscribers"] != float64(2) || tp["bound_subscribers"] != float64(1)) {
			t.Errorf("ops counts %v, want 2 subscribers, 1 bound", tp)
		}
	}

	// alice is in both topics and named: one message; carol is unbound: skipped.
	r = app.api(t, "POST", "/api/v1/messages", token, `{"to":{"topics":["ops","board"],"users":["alice"]},"title":"季度报告"}`)
	if r.Status != http.StatusAccepted || r.JSON["recipients"] != float64(2) {
		t.Fatalf("send to topics: %d %s, want 2 recipients (alice once, root)", r.Status, r.Body)
	}
	page := app.browser(t).get(r.JSON["page_url"].(string))
	for _, want := range []string{`href="/t/board" class="unsubscribe">退订「董事会」</a>`, `href="/t/ops" class="unsubscribe">退订「运维告警」</a>`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("detail page lacks %s", want)
		}
	}
	st := waitDone(t, app, token, r.JSON["status_url"].(string))
	if st.JSON["total"] != float64(2) {
		t.Errorf("status %s", st.Body)
	}
	cards := 0
	for _, m := range app.SB.Inbox(sandbox.OpenID(testAppID, "alice")) {
		if strings.Contains(joinFields(m), "季度报告") {
			cards++
		}
	}
	if cards != 1 {
		t.Errorf("alice got %d cards, want exactly 1", cards)
	}

	tests := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"unknown topic", `{"to":{"topics":["ops","nope"]},"title":"x"}`, 404, "unknown_topic", "to.topics"},
		{"empty topics", `{"to":{"topics":[]},"title":"x"}`, 400, "invalid_request", "to.topics"},
		{"topics and all", `{"to":{"topics":["ops"],"all":true},"title":"x"}`, 400, "invalid_request", "to"},
		{"topics not strings", `{"to":{"topics":[1]},"title":"x"}`, 400, "invalid_request", "to.topics"},
	}
	for _, tt := range tests {
		r := app.api(t, "POST", "/api/v1/messages", token, tt.body)
		if r.Status != tt.status || r.errCode() != tt.code || r.fields()[tt.field] == nil {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Body)
		}
	}
	log, _ := app.Store.AuditLog(context.Background(), 50)
	subs := 0
	for _, e := range log {
		if e.Action == "topic.subscribe" && e.Actor == "api:ci" {
			subs++
		}
	}
	if subs != 5 {
		t.Errorf("%d topic.subscribe entries by api:ci, want 5 (repeats are not changes)", subs)
	}
}

var ticketRE = regexp.MustCompile(`name="ticket" value="([^"]+)"`)

func TestTopicPage_SignedInSubscribesWithOneTap(t *testing.T) {
	app, _, _ := topicsApp(t)
	alice := app.browser(t)
	alice.login("alice")
	r := alice.get("/t/ops")
	if r.Status != 200 || !strings.Contains(r.Body, `id="topic-subscribe"`) || r.Header.Get("X-Robots-Tag") == "" {
		t.Fatalf("%d\n%s", r.Status, r.Body)
	}
	r = alice.post("/t/ops", url.Values{"action": {"subscribe"}})
	if r.Status != 200 || !strings.Contains(r.Body, `id="topic-state">已订阅`) || !strings.Contains(r.Body, "已订阅「运维告警」") {
		t.Fatalf("after subscribing: %d\n%s", r.Status, r.Body)
	}
	// The account page lists it; unsubscribing there comes back there.
	acct := alice.get("/")
	if !strings.Contains(acct.Body, `id="unsubscribe-ops"`) || strings.Contains(acct.Body, "董事会") {
		t.Errorf("account page: want ops with 退订, no closed topic\n%s", acct.Body)
	}
	r = alice.post("/t/ops", url.Values{"action": {"unsubscribe"}, "next": {"/"}})
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/?done=topic") {
		t.Errorf("unsubscribe from the account page: %d %s", r.Status, r.Header.Get("Location"))
	}
	if acct := alice.get("/"); !strings.Contains(acct.Body, `id="subscribe-ops"`) {
		t.Error("still subscribed after 退订")
	}
	// A topic only admins fill.
	if r := alice.post("/t/board", url.Values{"action": {"subscribe"}}); r.Status != http.StatusForbidden {
		t.Errorf("self-subscribe to board: %d", r.Status)
	}
	if r := alice.post("/t/ops", url.Values{"action": {"delete"}}); r.Status != http.StatusBadRequest {
		t.Errorf("bad action: %d", r.Status)
	}
	if r := alice.get("/t/nope"); r.Status != http.StatusNotFound {
		t.Errorf("unknown topic: %d", r.Status)
	}
}

func TestTopicPage_InWeChatIdentifiesThenSubscribes(t *testing.T) {
	app, _, _ := topicsApp(t)
	phone := app.browser(t) // WeChat's in-app browser: no session
	wx := []string{"User-Agent", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"}
	r := phone.get("/t/ops", wx...)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || loc == nil || loc.Query().Get("scope") != "snsapi_base" ||
		loc.Query().Get("redirect_uri") != app.URL+"/t/ops/wechat" {
		t.Fatalf("GET /t/ops in WeChat: %d → %s", r.Status, r.Header.Get("Location"))
	}
	// The sandbox plays WeChat: alice's phone authorizes silently.
	r = phone.post(r.Header.Get("Location"), url.Values{"step": {"choose"}, "openid": {sandbox.OpenID(testAppID, "alice")}})
	if r.Status != http.StatusFound {
		t.Fatalf("authorize: %d %s", r.Status, r.Body)
	}
	r = phone.get(r.Header.Get("Location"), wx...)
	m := ticketRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil || !strings.Contains(r.Body, "账号：alice") {
		t.Fatalf("back from WeChat: %d\n%s", r.Status, r.Body)
	}
	ticket := html.UnescapeString(m[1])
	r = phone.post("/t/ops", url.Values{"action": {"subscribe"}, "ticket": {ticket}})
	if r.Status != 200 || !strings.Contains(r.Body, "已订阅「运维告警」") {
		t.Fatalf("one tap: %d\n%s", r.Status, r.Body)
	}
	log, _ := app.Store.AuditLog(context.Background(), 1)
	if log[0].Action != "topic.subscribe" || log[0].Actor != "alice" || log[0].Detail != "alice" {
		t.Errorf("audit %+v", log[0])
	}
	// A ticket is good for topics only, not as a session, and not forged.
	if r := phone.post("/t/ops", url.Values{"action": {"unsubscribe"}, "ticket": {ticket + "x"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("forged ticket: %d", r.Status)
	}
	if r := phone.get("/", "Cookie", "wxpush_session="+ticket); r.Status != http.StatusSeeOther {
		t.Errorf("a ticket as a session cookie: %d, want the login redirect", r.Status)
	}
	// After the ticket's 15 minutes it no longer acts.
	app.Clock.Advance(16 * 60e9)
	if r := phone.post("/t/ops", url.Values{"action": {"unsubscribe"}, "ticket": {ticket}}); r.Status != http.StatusUnauthorized {
		t.Errorf("expired ticket: %d", r.Status)
	}

	// A WeChat user bound to no account is told how to bind.
	stranger := app.SB.AddUser("路人")
	r = phone.get("/t/ops", wx...)
	r = phone.post(r.Header.Get("Location"), url.Values{"step": {"choose"}, "openid": {stranger.OpenID}})
	r = phone.get(r.Header.Get("Location"))
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, "还没有绑定本站账号") || ticketRE.MatchString(r.Body) {
		t.Errorf("unbound WeChat user: %d\n%s", r.Status, r.Body)
	}
	// Outside WeChat, signed out: the page offers both ways.
	if r := app.browser(t).get("/t/ops"); r.Status != 200 || !strings.Contains(r.Body, `id="topic-wechat"`) || !strings.Contains(r.Body, `/login?next=%2Ft%2Fops`) {
		t.Errorf("signed-out page: %d\n%s", r.Status, r.Body)
	}
}

func TestAdminTopics_PagesCountsAndErrors(t *testing.T) {
	app, _, admin := topicsApp(t)
	if r := admin.post("/admin/topics", url.Values{"slug": {"Ops Team"}, "name": {""}}); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, "标识只能用小写字母") || !strings.Contains(r.Body, "请填写名称") {
		t.Errorf("invalid topic: %d", r.Status)
	}
	if r := admin.post("/admin/topics", url.Values{"slug": {"ops"}, "name": {"重复"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "已被其他主题使用") {
		t.Errorf("taken slug: %d", r.Status)
	}
	r := admin.post("/admin/topics/board/subscribers", url.Values{"action": {"add"}, "user": {"alice"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("add subscriber: %d", r.Status)
	}
	page := admin.get("/admin/topics/board")
	if !strings.Contains(page.Body, "<td>alice</td>") || !strings.Contains(page.Body, app.URL+"/t/board") || !strings.Contains(page.Body, `id="topic-qr"`) {
		t.Errorf("topic page:\n%s", page.Body)
	}
	if r := admin.post("/admin/topics/board/subscribers", url.Values{"action": {"add"}, "user": {"ghost"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "用户不存在") {
		t.Errorf("unknown subscriber: %d", r.Status)
	}
	if r := admin.post("/admin/topics/board", url.Values{"name": {""}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("empty name on edit: %d", r.Status)
	}
	if r := admin.post("/admin/topics/board", url.Values{"name": {"董事会通知"}, "self_subscribe": {"1"}}); r.Status != http.StatusSeeOther {
		t.Errorf("edit: %d", r.Status)
	}
	dash := admin.get("/admin")
	if !strings.Contains(dash.Body, `<tr data-slug="board"><td><a href="/admin/topics/board">董事会通知</a> <code class="muted">board</code></td><td class="subscribers">1</td>`) ||
		!strings.Contains(dash.Body, "创建主题") {
		t.Errorf("dashboard lacks the counts or the audit:\n%s", dash.Body)
	}
	if r := admin.post("/admin/topics/board/delete", nil); r.Status != http.StatusSeeOther {
		t.Errorf("delete: %d", r.Status)
	}
	if r := admin.get("/admin/topics/board"); r.Status != http.StatusNotFound {
		t.Errorf("deleted topic: %d", r.Status)
	}
	alice := app.browser(t)
	alice.login("alice")
	if r := alice.get("/admin/topics"); r.Status != http.StatusForbidden {
		t.Errorf("non-admin: %d", r.Status)
	}
}

func TestCompose_SendsToTopics(t *testing.T) {
	app, token, admin := topicsApp(t)
	for _, p := range []string{"/api/v1/topics/ops/subscribers/alice", "/api/v1/topics/board/subscribers/alice"} {
		if r := app.api(t, "PUT", p, token, ""); r.Status != 200 {
			t.Fatal(r.Body)
		}
	}
	if r := admin.get("/admin/compose"); !strings.Contains(r.Body, `id="topic-ops"`) || !strings.Contains(r.Body, "主题「运维告警」") {
		t.Fatalf("compose page offers no topics")
	}
	r := admin.post("/admin/compose", url.Values{"kind": {"notification"}, "to": {"users"}, "topic": {"ops", "board"}, "title": {"周报"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("send: %d\n%s", r.Status, r.Body)
	}
	if body := waitPageDone(t, admin, r.Header.Get("Location")); !strings.Contains(body, "<dd>1 人</dd>") {
		t.Errorf("want alice once:\n%s", body)
	}
	// A topic nobody bound subscribes to: the form says so.
	if r := app.api(t, "DELETE", "/api/v1/topics/board/subscribers/alice", token, ""); r.Status != 200 {
		t.Fatal(r.Body)
	}
	r = admin.follow(admin.post("/admin/compose", url.Values{"kind": {"notification"}, "to": {"users"}, "topic": {"board"}, "title": {"周报"}}))
	if !strings.Contains(r.Body, "还没有已绑定微信的订阅者") {
		t.Errorf("empty topic: %d", r.Status)
	}
}

// TestTopicPage_SandboxPhoneFrameIsWeChat: in sandbox mode, the simulated
// phone's browser frame counts as WeChat's, and its holder is known, so a
// topic link goes from tap to the 订阅 button without a chooser.
func TestTopicPage_SandboxPhoneFrameIsWeChat(t *testing.T) {
	app, _, _ := topicsApp(t)
	phone := app.browser(t)
	alice := sandbox.OpenID(testAppID, "alice")
	if r := phone.get("/sandbox/phone/" + alice + "/web?url=" + url.QueryEscape(app.URL+"/t/ops")); r.Status != 200 {
		t.Fatalf("web view: %d", r.Status)
	}
	framed := []string{"Sec-Fetch-Dest", "iframe"}
	r := phone.get("/t/ops", framed...)
	if r.Status != http.StatusFound {
		t.Fatalf("framed /t/ops: %d, want the authorization redirect", r.Status)
	}
	r = phone.get(r.Header.Get("Location"), framed...)
	if r.Status != http.StatusFound {
		t.Fatalf("authorize in the frame: %d, want a silent redirect\n%s", r.Status, r.Body)
	}
	r = phone.get(r.Header.Get("Location"), framed...)
	if r.Status != 200 || !strings.Contains(r.Body, "账号：alice") || !strings.Contains(r.Body, `id="topic-subscribe"`) {
		t.Fatalf("back in the frame: %d\n%s", r.Status, r.Body)
	}
	// The same browser outside the frame is no phone.
	if r := phone.get("/t/ops", "Sec-Fetch-Dest", "document"); r.Status != 200 {
		t.Errorf("unframed /t/ops: %d, want the page", r.Status)
	}
}
