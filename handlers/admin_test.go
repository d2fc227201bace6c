package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/wechat"
)

// bindUser signs a browser up as name and binds it to the sandbox user of
// the same nickname.
func (a *testApp) bindUser(t *testing.T, name string) *browser {
	t.Helper()
	b := a.browser(t)
	b.signup(name)
	authURL, _ := b.bindQR()
	if r := a.browser(t).get(a.phoneDecides(t, authURL, name, true)); r.Status != 200 {
		t.Fatalf("binding %s: %d", name, r.Status)
	}
	return b
}

func (a *testApp) syncTemplates(t *testing.T) {
	t.Helper()
	if _, err := a.Service.SyncTemplates(context.Background(), service.System); err != nil {
		t.Fatal(err)
	}
}

func TestAdmin_NonAdminGets403Everywhere(t *testing.T) {
	app := newTestApp(t)
	app.browser(t).signup("root") // the admin
	user := app.browser(t)
	user.signup("plain")
	routes := []struct{ method, path string }{
		{"GET", "/admin"},
		{"GET", "/admin/compose"},
		{"GET", "/admin/compose/fields?template_id=x"},
		{"POST", "/admin/compose/preview"},
		{"POST", "/admin/compose"},
		{"GET", "/admin/messages"},
		{"GET", "/admin/messages/1"},
		{"GET", "/admin/messages/1/progress"},
		{"POST", "/admin/messages/1/retry"},
		{"GET", "/admin/templates"},
		{"POST", "/admin/templates/sync"},
		{"POST", "/admin/users/refresh"},
		{"POST", "/admin/outbox/resume"},
		{"POST", "/settings/signup"},
	}
	for _, rt := range routes {
		var r resp
		if rt.method == "GET" {
			r = user.get(rt.path)
		} else {
			r = user.post(rt.path, url.Values{"kind": {"text"}, "text": {"hi"}, "to": {"all"}})
		}
		if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "只有管理员") {
			t.Errorf("%s %s as non-admin: %d", rt.method, rt.path, r.Status)
		}
	}
	if ms, _ := app.Store.Messages(context.Background(), 10, 0); len(ms) != 0 {
		t.Error("a non-admin managed to queue a message")
	}
}

func TestAdmin_ComposeValidationKeepsInput(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"empty text", url.Values{"kind": {"text"}, "to": {"all"}, "text": {""}}, "请填写消息内容"},
		{"no template", url.Values{"kind": {"template"}, "to": {"all"}}, "请选择模板"},
		{"no recipients chosen", url.Values{"kind": {"text"}, "to": {"users"}, "text": {"保留我"}}, "请选择接收人"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Refused: 303 back to the form, filled in, with the problem.
			r := admin.follow(admin.post("/admin/compose", tt.form))
			if r.Status != http.StatusOK || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("status %d, want the form with %q\n%s", r.Status, tt.want, r.Body)
			}
			if txt := tt.form.Get("text"); txt != "" && !strings.Contains(r.Body, txt) {
				t.Errorf("the form lost the text %q", txt)
			}
		})
	}
	if ms, _ := app.Store.Messages(context.Background(), 10, 0); len(ms) != 0 {
		t.Errorf("%d messages queued from invalid forms", len(ms))
	}
}

func TestAdmin_SendTemplateToAllReachesThePhone(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	ts, _ := app.Store.Templates(context.Background())
	if len(ts) == 0 {
		t.Fatal("no templates synced from the sandbox")
	}
	// The compose form builds fields from the chosen template.
	var tid string
	var keys []string
	for _, tpl := range ts {
		r := admin.get("/admin/compose/fields?template_id="+url.QueryEscape(tpl.ID), "HX-Request", "true")
		if strings.Contains(r.Body, `name="data.content"`) {
			tid = tpl.ID
			keys = []string{"content"}
			break
		}
	}
	if tid == "" {
		t.Fatal("no free-text sample template with a content field")
	}
	form := url.Values{"kind": {"template"}, "to": {"all"}, "template_id": {tid}}
	for _, k := range keys {
		form.Set("data."+k, "部署完成")
	}
	pv := admin.post("/admin/compose/preview", form, "HX-Request", "true")
	if !strings.Contains(pv.Body, "部署完成") || !strings.Contains(pv.Body, "wx-card") {
		t.Errorf("preview does not show the card:\n%s", pv.Body)
	}
	r := admin.post("/admin/compose", form)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/admin/messages/") {
		t.Fatalf("send: %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	loc := r.Header.Get("Location")
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := admin.get(loc+"/progress", "HX-Request", "true")
		if strings.Contains(p.Body, `data-done="true"`) {
			if !strings.Contains(p.Body, "100%") || strings.Contains(p.Body, "hx-trigger") {
				t.Fatalf("final progress fragment:\n%s", p.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message never finished:\n%s", p.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, nick := range []string{"root", "alice"} {
		inbox := app.SB.Inbox(app.SB.AddUser(nick).OpenID)
		if len(inbox) != 1 {
			t.Errorf("%s's phone has %d messages, want 1", nick, len(inbox))
		}
	}
	page := admin.get(loc)
	if !strings.Contains(page.Body, "已发送") {
		t.Errorf("message page does not list the sent deliveries")
	}
}

// An admin sends to a user who unfollowed: the delivery fails with the
// reason, and after the user follows again, 重试 delivers it.
func TestAdmin_RetryFailedAfterRefollow(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	alice := app.SB.AddUser("alice").OpenID
	if err := app.SB.SetFollowing(alice, false); err != nil {
		t.Fatal(err)
	}
	tid := freeTemplateID(t, app)
	form := url.Values{"kind": {"template"}, "to": {"users"}, "user": {fmt.Sprint(mustUser(t, app, "alice").ID)},
		"template_id": {tid}, "data.content": {"维护通知"}}
	r := admin.post("/admin/compose", form)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || loc == "" {
		t.Fatalf("send: %d\n%s", r.Status, r.Body)
	}
	page := waitPageDone(t, admin, loc)
	if !strings.Contains(page, "43004") || !strings.Contains(page, `id="retry-failed"`) {
		t.Fatalf("failed delivery page lacks the reason or the retry button:\n%s", page)
	}
	if err := app.SB.SetFollowing(alice, true); err != nil {
		t.Fatal(err)
	}
	if r := admin.post(loc+"/retry", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.Status)
	}
	page = waitPageDone(t, admin, loc)
	if strings.Contains(page, "retry-failed") || !strings.Contains(page, "100%") {
		t.Fatalf("after retry:\n%s", page)
	}
	if n := len(app.SB.Inbox(alice)); n != 1 {
		t.Errorf("alice's phone has %d messages, want 1", n)
	}
}

// Text to users outside the 48-hour window: the form warns before sending.
func TestAdmin_ComposeWarnsAboutTheTextWindow(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.Clock.Advance(2 * time.Minute) // the follow's 1-minute window is over
	r := admin.get("/admin/compose?kind=text")
	if !strings.Contains(r.Body, `id="window-warning"`) {
		t.Fatalf("no warning for a text to a user outside the window:\n%s", r.Body)
	}
	openid := app.SB.AddUser("root").OpenID
	app.replyText(t, app.push(t, text(openid, "你好"), true, 0), true)
	if r := admin.get("/admin/compose?kind=text"); strings.Contains(r.Body, `id="window-warning"`) {
		t.Error("warning shown although the user wrote within 48 hours")
	}
}

func freeTemplateID(t *testing.T, app *testApp) string {
	t.Helper()
	ts, _ := app.Store.Templates(context.Background())
	for _, x := range ts {
		if keys := (wechat.Template{Content: x.Content}).Keys(); slices.Contains(keys, "content") && !slices.Contains(keys, "title") {
			return x.ID
		}
	}
	t.Fatal("no free-text template")
	return ""
}

// waitPageDone polls a message's progress until every delivery is final and
// returns the message page.
func waitPageDone(t *testing.T, b *browser, loc string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if p := b.get(loc+"/progress", "HX-Request", "true"); strings.Contains(p.Body, `data-done="true"`) {
			return b.get(loc).Body
		}
		if time.Now().After(deadline) {
			t.Fatal("message never finished")
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func TestAdmin_DashboardUsersAreSearchableAndPaged(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	ctx := context.Background()
	for i := range 120 {
		if _, err := app.Store.CreateUser(ctx, fmt.Sprintf("user%03d", i), "pw-user-12345", false, false); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(body string) []string {
		t.Helper()
		_, table, ok := strings.Cut(body, `id="people"`)
		if !ok {
			return nil // no rows, no table
		}
		table, _, _ = strings.Cut(table, "</table>")
		var names []string
		for _, tr := range strings.Split(table, "<tr>")[2:] { // [0] before thead, [1] the header row
			td := strings.TrimPrefix(strings.TrimSpace(tr), "<td>")
			if strings.HasPrefix(td, "<a ") { // the name links to the user's page
				_, td, _ = strings.Cut(td, ">")
			}
			td, _, _ = strings.Cut(td, "<")
			names = append(names, strings.TrimSpace(td))
		}
		return names
	}
	tests := []struct {
		name          string
		path          string
		first, last   string
		count         int
		pager         string // "" when there is one page
		prev, next    string // expected link targets, "" for none
		matched, none string // texts that must appear
	}{
		{"first page", "/admin", "root", "user048", 50, "第 1 / 3 页", "", "/admin?page=2#users", "共 121 个账号", ""},
		{"last page", "/admin?page=3", "user099", "user119", 21, "第 3 / 3 页", "/admin?page=2#users", "", "", ""},
		{"past the end", "/admin?page=99", "user099", "user119", 21, "第 3 / 3 页", "", "", "", ""},
		{"not a number", "/admin?page=abc", "root", "user048", 50, "第 1 / 3 页", "", "", "", ""},
		{"search", "/admin?q=USER11", "user110", "user119", 10, "", "", "", "匹配 10 个", ""},
		{"search by a name with spaces around", "/admin?q=+root+", "root", "root", 1, "", "", "", "匹配 1 个", ""},
		{"no match", "/admin?q=%E5%BC%A0%E4%B8%89", "", "", 0, "", "", "", "匹配 0 个", "没有用户名或昵称包含「张三」的用户"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.get(tt.path)
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d", tt.path, r.Status)
			}
			got := rows(r.Body)
			if len(got) != tt.count || (tt.count > 0 && (got[0] != tt.first || got[len(got)-1] != tt.last)) {
				t.Fatalf("rows %d (%v…%v); want %d, %s to %s", len(got), first(got), last(got), tt.count, tt.first, tt.last)
			}
			if tt.pager == "" && strings.Contains(r.Body, `id="people-pager"`) {
				t.Error("pager shown for a single page")
			}
			if tt.pager != "" && !strings.Contains(r.Body, tt.pager) {
				t.Errorf("no %q", tt.pager)
			}
			for _, link := range []string{tt.prev, tt.next} {
				if link != "" && !strings.Contains(r.Body, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
					t.Errorf("no link to %s", link)
				}
			}
			for _, text := range []string{tt.matched, tt.none} {
				if text != "" && !strings.Contains(r.Body, text) {
					t.Errorf("page lacks %q", text)
				}
			}
		})
	}
	// The search survives paging.
	r := admin.get("/admin?q=user")
	if !strings.Contains(r.Body, `href="/admin?page=2&amp;q=user#users"`) {
		t.Errorf("next page link loses the search:\n%s", r.Body[strings.Index(r.Body, `id="people-pager"`):][:400])
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
