package service_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

const timeTpl = "TPL_TIME" // {{thing1.DATA}} {{thing2.DATA}} {{time3.DATA}}

func (f *fixture) addTimeTemplate(t *testing.T) {
	t.Helper()
	ts, _ := f.st.Templates(context.Background())
	ts = append(ts, store.Template{ID: timeTpl, Title: "通知", Content: "标题:{{thing1.DATA}}\n摘要:{{thing2.DATA}}\n时间:{{time3.DATA}}"})
	if err := f.st.ReplaceTemplates(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

func TestSend_NotificationFillsTheTemplateAndKeepsTheWholeContent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.addTimeTemplate(t)
	admin, _ := f.st.UserByID(ctx, f.ids["alice"])
	if err := f.svc.SetSendKeyTemplate(ctx, service.UserActor(admin),
		service.SendKeyTemplate{TemplateID: timeTpl, TitleKey: "thing1", ContentKey: "thing2", TimeKey: "time3"}); err != nil {
		t.Fatal(err)
	}
	content := "# 构建失败\n\n**main** 分支的第 42 次构建失败。\n\n" + strings.Repeat("日志行 0123456789\n", 600)
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, UserNames: []string{"bob"},
		Title: "CI 构建失败：wxpush 主分支第 42 次构建", Content: content, ContentType: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.MessageContent(ctx, m.ID)
	page, err := f.st.PageOf(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != store.KindTemplate || got.TemplateID != timeTpl {
		t.Fatalf("queued %+v, want the notification template", got)
	}
	if want := "CI 构建失败：wxpush 主分支第…"; got.Data["thing1"] != want {
		t.Errorf("title field %q, want %q (20 characters, cut and marked)", got.Data["thing1"], want)
	}
	if want := "构建失败 main 分支的第 42 次…"; got.Data["thing2"] != want {
		t.Errorf("summary field %q, want %q (the content's text without markup, cut to 20)", got.Data["thing2"], want)
	}
	if !strings.Contains(got.Data["time3"], "年") || !strings.Contains(got.Data["time3"], ":") {
		t.Errorf("time field %q, want 2006年1月2日 15:04", got.Data["time3"])
	}
	if page.Content != strings.TrimSpace(content) || page.ContentType != store.ContentMarkdown || page.Title != "CI 构建失败：wxpush 主分支第 42 次构建" {
		t.Errorf("page keeps %d bytes (%q, %q), want the whole content", len(page.Content), page.ContentType, page.Title)
	}
	if len(page.Token) < 22 {
		t.Errorf("token %q: want at least 128 bits", page.Token)
	}
	if want := "http://127.0.0.1:8080/m/" + page.Token; got.URL != want {
		t.Errorf("card links %q, want the detail page %q", got.URL, want)
	}

	// The sender's own link wins; an explicit summary is used (and cut).
	m, err = f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, UserNames: []string{"bob"},
		Title: "备份完成", Content: "12 GB", Summary: "数据库与文件备份均已完成，用时三分钟，下一次在今晚", URL: "https://example.com/b"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = f.st.MessageContent(ctx, m.ID)
	if got.URL != "https://example.com/b" || got.Data["thing2"] != "数据库与文件备份均已完成，用时三分钟，…" {
		t.Errorf("url %q, summary %q", got.URL, got.Data["thing2"])
	}
}

func TestSend_NotificationErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		req    service.SendRequest
		code   service.Code
		reason string
		field  string
	}{
		{"no title", service.SendRequest{Content: "x"}, service.EInvalid, "invalid_request", "title"},
		{"two-line title", service.SendRequest{Title: "a\nb"}, service.EInvalid, "invalid_request", "title"},
		{"long title", service.SendRequest{Title: strings.Repeat("标", 101)}, service.EInvalid, "invalid_request", "title"},
		{"content type", service.SendRequest{Title: "x", ContentType: "html"}, service.EInvalid, "invalid_request", "content_type"},
		{"bad url", service.SendRequest{Title: "x", URL: "javascript:alert(1)"}, service.EInvalid, "invalid_request", "url"},
		{"content over 64 KB", service.SendRequest{Title: "x", Content: strings.Repeat("長", service.MaxContentBytes/3+1)}, service.ETooLarge, "too_large", "content"},
		{"nobody", service.SendRequest{Title: "x"}, service.EInvalid, "invalid_request", "to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Kind = service.KindNotification
			if tt.field != "to" {
				tt.req.UserNames = []string{"bob"}
			}
			_, err := f.svc.Send(ctx, service.CLIActor, tt.req)
			e := service.AsError(err)
			if err == nil || e.Code != tt.code || e.Reason != tt.reason || e.Fields[tt.field] == "" {
				t.Fatalf("err = %v, want %s/%s on %s", err, tt.code, tt.reason, tt.field)
			}
		})
	}
	// The summary field's rule is checked against what the sender wrote.
	admin, _ := f.st.UserByID(ctx, f.ids["alice"])
	if err := f.svc.SetSendKeyTemplate(ctx, service.UserActor(admin), service.SendKeyTemplate{TemplateID: thingTpl, TitleKey: "thing1", ContentKey: "phrase2"}); err != nil {
		t.Fatal(err)
	}
	for field, req := range map[string]service.SendRequest{
		"summary": {Title: "x", Content: "完成", Summary: "done"},
		"content": {Title: "x", Content: "done"},
	} {
		req.Kind, req.UserNames = service.KindNotification, []string{"bob"}
		_, err := f.svc.Send(ctx, service.CLIActor, req)
		if e := service.AsError(err); e.Code != service.EInvalid || e.Fields[field] == "" {
			t.Errorf("phrase field with %q: err = %v, want a message on %s", req.Summary+req.Content, err, field)
		}
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("%d messages stored from bad requests", n)
	}
	if err := f.st.ReplaceTemplates(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, Title: "x", UserNames: []string{"bob"}})
	if e := service.AsError(err); e.Code != service.EUnavailable || e.Reason != "no_template" {
		t.Errorf("no template: err = %v, want unavailable/no_template", err)
	}
}

func TestSend_LongTextIsCutWithALinkToTheWholeText(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("这是一段很长的客服消息。", 100)
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: long, UserNames: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.MessageContent(ctx, m.ID)
	page, _ := f.st.PageOf(ctx, m.ID)
	if page.Content != long {
		t.Errorf("page has %d bytes, want all %d", len(page.Content), len(long))
	}
	link := `<a href="http://127.0.0.1:8080/m/` + page.Token + `">查看全文</a>`
	if !strings.HasSuffix(got.Body, "…\n\n"+link) || !strings.HasPrefix(long, strings.TrimSuffix(got.Body, "…\n\n"+link)) {
		t.Errorf("body %q: want the text's start, then %s", got.Body, link)
	}
	if len(got.Body) > service.MaxTextBytes {
		t.Errorf("body has %d bytes, over WeChat's %d", len(got.Body), service.MaxTextBytes)
	}
	// A short text goes whole; its page still exists.
	m, _ = f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "你好", UserNames: []string{"bob"}})
	got, _ = f.st.MessageContent(ctx, m.ID)
	if page, err := f.st.PageOf(ctx, m.ID); got.Body != "你好" || err != nil || page.Title != "你好" {
		t.Errorf("short text: body %q, page %+v, %v", got.Body, page, err)
	}
}

func TestSend_TemplateWithoutLinkOpensItsDetailPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindTemplate, TemplateID: freeTpl,
		Data: map[string]string{"title": "维护", "content": "今晚 22:00"}, UserNames: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.MessageContent(ctx, m.ID)
	page, _ := f.st.PageOf(ctx, m.ID)
	if u, _ := url.Parse(got.URL); u == nil || u.Path != "/m/"+page.Token {
		t.Errorf("card links %q, want /m/%s", got.URL, page.Token)
	}
	if page.Title != "消息通知" || page.Content != "标题：维护\n内容：今晚 22:00" {
		t.Errorf("page %q: %q", page.Title, page.Content)
	}
}

func TestCutText_NeverSplitsACharacter(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abcdef", 3, "abc"},
		{"长长长长", 2, "长长"},
		{"ab", 5, "ab"},
		{"e\u0301e\u0301", 1, ""},    // e + combining acute: not split from its mark
		{"ae\u0301", 2, "a"},         // the cut falls before the mark: back off
		{"👍🏽ok", 1, ""},              // emoji + skin tone
		{"x👨\u200d👩\u200d👧", 3, "x"}, // ZWJ family
		{"❤\ufe0f!", 1, ""},          // variation selector
		{"", 3, ""},
	}
	for _, tt := range tests {
		got := service.CutText(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("CutText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTextBody(t *testing.T) {
	const u = "https://push.example.com/m/TOKEN"
	link := "…\n\n<a href=\"" + u + "\">查看全文</a>"
	tests := []struct {
		name, in, want string
	}{
		{"short", "你好\n世界", "你好\n世界"},
		{"many lines", strings.Repeat("行\n", 13) + "行", strings.TrimSuffix(strings.Repeat("行\n", 12), "\n") + link},
		{"many characters", strings.Repeat("字", 201), strings.Repeat("字", 200) + link},
		{"never inside a link", strings.Repeat("字", 190) + `<a href="https://x.example/very/long/path">详情</a>` + strings.Repeat("字", 20), strings.Repeat("字", 190) + link},
	}
	for _, tt := range tests {
		if got := service.TextBody(tt.in, u); got != tt.want {
			t.Errorf("%s: TextBody = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	if got := service.Summarize("# 标题\n\n- 一\n- **二**", "markdown"); got != "标题 一 二" {
		t.Errorf("markdown summary %q", got)
	}
	if got := service.Summarize("  a\n\n b  ", "text"); got != "a b" {
		t.Errorf("text summary %q", got)
	}
}
