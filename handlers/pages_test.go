package handlers_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

// notificationApp is a site whose sandbox has the free-form 「消息通知」
// template (title, content), synced, with alice bound; it returns an API
// token of the admin.
func notificationApp(t *testing.T) (*testApp, string) {
	t.Helper()
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	return app, admin.createToken("ci")
}

// waitCard waits for the sandbox phone of nickname to hold a card whose
// fields contain want, and returns it.
func waitCard(t *testing.T, app *testApp, nickname, want string) sandbox.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range app.SB.Inbox(sandbox.OpenID(testAppID, nickname)) {
			if strings.Contains(joinFields(m)+m.Content, want) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s's phone has no message with %q: %+v", nickname, want, app.SB.Inbox(sandbox.OpenID(testAppID, nickname)))
	return sandbox.Message{}
}

var detailContent = regexp.MustCompile(`(?s)<div class="content (?:md|text)" id="detail-content">(.*?)</div>\s*</article>`)

func TestMessagePage_MarkdownNotificationFromTheAPI(t *testing.T) {
	app, token := notificationApp(t)
	content := "## 构建 #42 失败\n\n<script>alert('xss')</script>\n\n[点我](javascript:alert(1)) [日志](https://ci.example.com/42)\n\n" +
		"| 步骤 | 结果 |\n|---|---|\n| test | 失败 |\n\n```\nFAIL github.com/wxpush/wxpush/store 0.42s\n```\n\n<img src=x onerror=alert(1)>"
	r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["alice"]},"title":"CI 构建失败","content":`+jsonString(content)+`,"content_type":"markdown"}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d\n%s", r.Status, r.Body)
	}
	pageURL, _ := r.JSON["page_url"].(string)
	if !strings.HasPrefix(pageURL, app.URL+"/m/") || len(strings.TrimPrefix(pageURL, app.URL+"/m/")) < 22 {
		t.Fatalf("page_url %q", pageURL)
	}
	card := waitCard(t, app, "alice", "CI 构建失败")
	if card.URL != pageURL {
		t.Errorf("the card links %q, want the detail page %q", card.URL, pageURL)
	}
	if got := joinFields(card); !strings.Contains(got, "构建 #42 失败 点我 日志 步骤") || strings.Contains(got, "<script") || strings.Contains(got, "##") {
		t.Errorf("card fields %q: want a plain-text summary of the content", got)
	}

	// The phone opens the page: no session needed.
	page := app.browser(t).get(pageURL)
	if page.Status != 200 {
		t.Fatalf("GET %s: %d", pageURL, page.Status)
	}
	for _, want := range []string{`<h1 id="detail-title">CI 构建失败</h1>`, "<table>", "<td>失败</td>", "<pre><code>FAIL github.com",
		`<a href="https://ci.example.com/42" rel="noopener nofollow"`, `<meta name="robots" content="noindex, nofollow">`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	m := detailContent.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no content in\n%s", page.Body)
	}
	for _, bad := range []string{"<script", "onerror", `href="javascript`} {
		if strings.Contains(m[1], bad) {
			t.Errorf("the sender's %q survived into the page:\n%s", bad, m[1])
		}
	}
	h := page.Header
	if h.Get("X-Robots-Tag") != "noindex, nofollow" || h.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("headers %v", h)
	}
}

func TestMessagePage_LongTextArrivesWhole(t *testing.T) {
	app, token := notificationApp(t)
	// 10,000 characters, some of them HTML's own.
	line := []rune("第一段 <b>不是粗体</b> & 中文内容。\n")
	runes := make([]rune, 0, 10000)
	for len(runes) < 10000 {
		runes = append(runes, line...)
	}
	long := string(runes[:9999]) + "终"
	for _, shape := range []string{
		`{"to":{"users":["alice"]},"title":"长消息","content":` + jsonString(long) + `}`,
		// As text: alice just followed, WeChat takes it (the site has not
		// heard of the follow, so the fallback must be off).
		`{"to":{"users":["alice"]},"text":` + jsonString(long) + `,"fallback":false}`,
	} {
		r := app.api(t, "POST", "/api/v1/messages", token, shape)
		if r.Status != http.StatusAccepted {
			t.Fatalf("status %d\n%s", r.Status, r.Body)
		}
		page := app.browser(t).get(r.JSON["page_url"].(string))
		m := detailContent.FindStringSubmatch(page.Body)
		if page.Status != 200 || m == nil {
			t.Fatalf("page %d\n%.500s", page.Status, page.Body)
		}
		if got := html.UnescapeString(m[1]); got != long {
			t.Errorf("the page shows %d of %d characters", utf8.RuneCountInString(got), utf8.RuneCountInString(long))
		}
	}
	// The text went out cut, with its 「查看全文」 link.
	var text sandbox.Message
	deadline := time.Now().Add(10 * time.Second)
	for text.Content == "" && time.Now().Before(deadline) {
		for _, m := range app.SB.Inbox(sandbox.OpenID(testAppID, "alice")) {
			if m.Kind == sandbox.KindText && !m.FromUser {
				text = m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(text.Content, `">查看全文</a>`) || utf8.RuneCountInString(text.Content) > 300 {
		t.Errorf("the text message %q: want its start and a 查看全文 link", text.Content)
	}
}

func TestMessagePage_UnknownTokensAre404(t *testing.T) {
	app := newTestApp(t)
	for _, tok := range []string{"nope", strings.Repeat("A", 24), "../admin", strings.Repeat("a", 200)} {
		r := app.browser(t).get("/m/" + url.PathEscape(tok))
		if r.Status != http.StatusNotFound || r.Header.Get("X-Robots-Tag") != "noindex, nofollow" {
			t.Errorf("/m/%s: %d, X-Robots-Tag %q", tok, r.Status, r.Header.Get("X-Robots-Tag"))
		}
	}
}

func TestSendKey_ServerChanStyle(t *testing.T) {
	app, _ := notificationApp(t)
	b := app.browser(t)
	b.login("alice")
	key := b.sendKey()
	script := app.browser(t)
	// Server酱's path form, desp as Markdown, short as the card's summary.
	r := script.get(key + ".send?" + url.Values{"title": {"备份完成"}, "desp": {"**12 GB** 已上传\n\n- 数据库\n- 文件"}, "short": {"备份成功"}}.Encode())
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	data, _ := decode(t, r)["data"].(map[string]any)
	pageURL, _ := data["url"].(string)
	card := waitCard(t, app, "alice", "备份完成")
	if got := joinFields(card); !strings.Contains(got, "备份成功") || card.URL != pageURL {
		t.Errorf("card %q → %q, want the summary 备份成功 and the page %q", got, card.URL, pageURL)
	}
	page := app.browser(t).get(pageURL)
	if !strings.Contains(page.Body, "<strong>12 GB</strong>") || !strings.Contains(page.Body, "<li>数据库</li>") {
		t.Errorf("desp is not rendered as Markdown:\n%s", page.Body)
	}
	// POST form and JSON take the same names; content stays plain text.
	r = script.post(key+".send", url.Values{"title": {"告警"}, "content": {"**CPU** 95%"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	data, _ = decode(t, r)["data"].(map[string]any)
	if page := app.browser(t).get(data["url"].(string)); !strings.Contains(page.Body, "**CPU** 95%") {
		t.Errorf("content without content_type is not shown as written")
	}
	for name, do := range map[string]func() resp{
		"JSON over 64 KB of content": func() resp {
			return script.postJSON(key, `{"title":"x","content":`+jsonString(strings.Repeat("长", 22<<10))+`}`)
		},
		"form body over 256 KB": func() resp {
			return script.post(key, url.Values{"title": {"x"}, "desp": {strings.Repeat("x", 300<<10)}})
		},
	} {
		if r := do(); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		} else if e, _ := decode(t, r)["error"].(map[string]any); e["code"] != "too_large" {
			t.Errorf("%s: %s", name, r.Body)
		}
	}
	if r := script.get(key + ".send?title=x&content_type=html"); r.Status != http.StatusBadRequest {
		t.Errorf("content_type=html: %d %s", r.Status, r.Body)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
