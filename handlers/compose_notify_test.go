package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var pageLink = regexp.MustCompile(`<a href="([^"]+)" id="page-link"`)

func TestCompose_NotificationPreviewsCardAndPageThenSends(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	form := url.Values{"kind": {"notification"}, "to": {"all"}, "title": {"日报"},
		"content": {"## 今日\n\n- 新用户 **12**\n- 订单 30\n\n<script>alert(1)</script>"}, "content_type": {"markdown"}}

	r := admin.post("/admin/compose/preview", form, "HX-Request", "true")
	if r.Status != 200 {
		t.Fatalf("preview: %d\n%s", r.Status, r.Body)
	}
	for _, want := range []string{`id="preview-card"`, "<div class=\"wx-card-title\">消息通知</div>", "日报", "今日 新用户 12 订单 30",
		`id="preview-page"`, "<strong>12</strong>", "<h2>今日</h2>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("preview lacks %q\n%s", want, r.Body)
		}
	}
	if strings.Contains(r.Body, "<script>alert") {
		t.Errorf("the preview runs the sender's script:\n%s", r.Body)
	}
	if r := admin.get("/admin/compose?kind=notification"); !strings.Contains(r.Body, `id="note-content"`) || !strings.Contains(r.Body, `value="notification" checked`) {
		t.Errorf("compose page has no notification editor")
	}

	r = admin.post("/admin/compose", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("send: %d\n%s", r.Status, r.Body)
	}
	msgPage := admin.get(r.Header.Get("Location"))
	m := pageLink.FindStringSubmatch(msgPage.Body)
	if m == nil {
		t.Fatalf("the message page does not link the detail page:\n%s", msgPage.Body)
	}
	detail := app.browser(t).get(html.UnescapeString(m[1]))
	if detail.Status != 200 || !strings.Contains(detail.Body, "<strong>12</strong>") {
		t.Errorf("detail page %d\n%s", detail.Status, detail.Body)
	}
	waitCard(t, app, "root", "日报")
}

func TestCompose_NotificationErrorsKeepInput(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	tests := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		// A refused form goes back to the form (303), filled in.
		{"no title", url.Values{"kind": {"notification"}, "to": {"all"}, "content": {"保留我的内容"}}, 303, "请填写标题"},
		{"no notification template", url.Values{"kind": {"notification"}, "to": {"all"}, "title": {"x"}}, 503, "管理员还没有设置通知使用的模板消息"},
		{"too large", url.Values{"kind": {"notification"}, "to": {"all"}, "title": {"x"}, "content": {strings.Repeat("长", 22<<10)}}, 413, "内容太大"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post("/admin/compose", tt.form)
			if tt.status == http.StatusSeeOther {
				r = admin.follow(r)
				r.Status = http.StatusSeeOther
			}
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("status %d, want %d with %q\n%.2000s", r.Status, tt.status, tt.want, r.Body)
			}
			if c := tt.form.Get("content"); tt.status == http.StatusSeeOther && !strings.Contains(r.Body, c) {
				t.Errorf("the form lost the content %q", c)
			}
		})
	}
}
