package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The expired QR panel states the lifetime the site runs with
// (WXPUSH_BIND_TTL), not a fixed ten minutes.
func TestBind_ExpiredPanelStatesTheConfiguredLifetime(t *testing.T) {
	for _, tt := range []struct {
		ttl  time.Duration
		want string
	}{
		{0, "只在 10 分钟内有效"}, // the default
		{90 * time.Second, "只在 1 分钟 30 秒内有效"},
		{2 * time.Hour, "只在 2 小时内有效"},
	} {
		app := newTestApp(t, func(c *testConfig) { c.Service.BindTTL = tt.ttl })
		b := app.browser(t)
		b.signup("alice")
		_, tid := b.bindQR()
		app.Clock.Advance(max(tt.ttl, 10*time.Minute) + time.Second)
		r := b.get("/bind/status?t="+tid, "HX-Request", "true")
		if !strings.Contains(r.Body, `id="bind-expired"`) || !strings.Contains(r.Body, tt.want) {
			t.Errorf("TTL %v: expired panel lacks %q:\n%s", tt.ttl, tt.want, r.Body)
		}
	}
}

// After binding by web authorization, the pages show the WeChat nickname
// and avatar that WeChat gave, not only a masked openid.
func TestBind_ShowsNicknameAndAvatar(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	authURL, tid := b.bindQR()
	phone := app.browser(t).get(app.phoneDecides(t, authURL, "张三", true))
	user := app.SB.AddUser("张三") // the same simulated user
	avatar := `<img class="avatar" src="` + app.URL + user.HeadImgURL + `"`
	pages := map[string]string{
		"phone result":   phone.Body,
		"bind (success)": b.get("/bind/status?t="+tid, "HX-Request", "true").Body,
		"bind (current)": b.get("/bind").Body,
		"account":        b.get("/").Body,
	}
	for name, body := range pages {
		if !strings.Contains(body, `<strong class="wechat-nickname">张三</strong>`) || !strings.Contains(body, avatar) {
			t.Errorf("%s lacks the nickname or the avatar (%s):\n%s", name, avatar, body)
		}
		if strings.Contains(body, user.OpenID) {
			t.Errorf("%s shows the full openid", name)
		}
	}
}

// Message lists and the audit log give a template message's values in the
// template's own field order, every time (not Go's random map order).
func TestSummary_TemplateOrderInListsAndAuditLog(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	if _, err := app.SB.AddTemplate("备份结果", "数量：{{number3.DATA}}\n事项：{{thing1.DATA}}\n状态：{{phrase2.DATA}}"); err != nil {
		t.Fatal(err)
	}
	app.syncTemplates(t)
	tid := ""
	ts, _ := app.Store.Templates(context.Background())
	for _, x := range ts {
		if x.Title == "备份结果" {
			tid = x.ID
		}
	}
	const n = 8
	for i := range n {
		r := admin.post("/admin/compose", url.Values{"kind": {"template"}, "to": {"all"}, "template_id": {tid},
			"data.number3": {fmt.Sprint(40 + i)}, "data.thing1": {"数据库备份"}, "data.phrase2": {"完成"}})
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/admin/messages/") {
			t.Fatalf("send %d: %d %q", i, r.Status, r.Header.Get("Location"))
		}
	}
	list := admin.get("/admin/messages").Body
	dash := admin.get("/admin").Body
	for i := range n {
		want := fmt.Sprintf("%d · 数据库备份 · 完成", 40+i)
		if !strings.Contains(list, `<td class="summary">`+want+`</td>`) {
			t.Errorf("message list: no summary %q", want)
		}
		if !strings.Contains(dash, want) {
			t.Errorf("audit log: no detail with %q", want)
		}
	}
}

// A failed delivery says what happened in Chinese; WeChat's own English
// errmsg and its request id stay available in a details toggle, not in
// the sentence.
func TestMessage_FailedRowsKeepWeChatsWordsInDetails(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	// Unfollowed, the user has no customer-service window: text fails
	// with 45015.
	if err := app.SB.SetFollowing(app.SB.AddUser("root").OpenID, false); err != nil {
		t.Fatal(err)
	}
	r := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"你好"}})
	page := waitPageDone(t, admin, r.Header.Get("Location"))
	explain := regexp.MustCompile(`<span class="err">([^<]*)</span>`).FindStringSubmatch(page)
	if explain == nil || !strings.Contains(explain[1], "45015") || strings.Contains(explain[1], "response out of time limit") || strings.Contains(explain[1], "rid") {
		t.Fatalf("the failed row's sentence: %q; want the Chinese explanation with the code only\n%s", explain, page)
	}
	details := regexp.MustCompile(`(?s)<details class="raw">.*?</details>`).FindString(page)
	if !strings.Contains(details, "response out of time limit or subscription is canceled") ||
		!regexp.MustCompile(`请求 ID（rid）：<code>[0-9a-f]+-[0-9a-f]+-[0-9a-f]+</code>`).MatchString(details) {
		t.Errorf("details toggle lacks WeChat's errmsg or the request id:\n%s", details)
	}
}

// Pages say which zone their times are in (Beijing time unless
// WXPUSH_TZ says otherwise); the API gives RFC 3339 times with that zone's
// offset.
func TestTimes_ShowTheirZone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		loc       *time.Location
		page, api string
	}{
		{"default", nil, " 北京时间", "+08:00"},
		{"WXPUSH_TZ=Asia/Kolkata", kolkata, " UTC+05:30", "+05:30"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := newTestApp(t, func(c *testConfig) { c.Location = tt.loc })
			admin := app.bindUser(t, "root")
			token := admin.createToken("ci")
			dateTime := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d` + regexp.QuoteMeta(tt.page))
			for _, p := range []string{"/", "/admin/tokens"} {
				if body := admin.get(p).Body; !dateTime.MatchString(body) {
					t.Errorf("%s shows no time with %q", p, tt.page)
				}
			}
			r := app.api(t, "GET", "/api/v1/users", token, "")
			users, _ := r.JSON["users"].([]any)
			if len(users) == 0 {
				t.Fatalf("no users: %s", r.Body)
			}
			at, _ := users[0].(map[string]any)["bound_at"].(string)
			if ts, err := time.Parse(time.RFC3339, at); err != nil || !strings.HasSuffix(at, tt.api) || ts.IsZero() {
				t.Errorf("bound_at %q: want RFC 3339 ending in %s", at, tt.api)
			}
		})
	}
}

var cjk = regexp.MustCompile(`\p{Han}`)

// API errors carry a stable English code and a Chinese message; the JSON
// decoder's own (English, Go) wording never reaches the client.
func TestAPI_ErrorsAreChineseWithStableCodes(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.browser(t).signup("unbound")
	token := admin.createToken("ci")
	tests := []struct {
		name, method, path, token, body string
		hdr                             []string
		code                            string
	}{
		{"no token", "GET", "/api/v1/users", "", "", nil, "unauthorized"},
		{"not a bearer token", "GET", "/api/v1/users", "", "", []string{"Authorization", "Basic abc"}, "unauthorized"},
		{"unknown token", "GET", "/api/v1/users", "wxp_nope", "", nil, "unauthorized"},
		{"unknown endpoint", "GET", "/api/v1/nope", token, "", nil, "not_found"},
		{"wrong method", "DELETE", "/api/v1/messages", token, "", nil, "method_not_allowed"},
		{"unknown message", "GET", "/api/v1/messages/999", token, "", nil, "not_found"},
		{"not JSON", "POST", "/api/v1/messages", token, "to=all", []string{"Content-Type", "application/x-www-form-urlencoded"}, "unsupported_media_type"},
		{"empty body", "POST", "/api/v1/messages", token, "", []string{"Content-Type", "application/json"}, "invalid_request"},
		{"syntax error", "POST", "/api/v1/messages", token, `{"to": {"all": tru}}`, nil, "invalid_request"},
		{"cut short", "POST", "/api/v1/messages", token, `{"to": {"all": true`, nil, "invalid_request"},
		{"not an object", "POST", "/api/v1/messages", token, `[1, 2]`, nil, "invalid_request"},
		{"wrong type", "POST", "/api/v1/messages", token, `{"to": {"all": "yes"}, "text": "hi"}`, nil, "invalid_request"},
		{"unknown field", "POST", "/api/v1/messages", token, `{"to": {"all": true}, "txt": "hi"}`, nil, "invalid_request"},
		{"two values", "POST", "/api/v1/messages", token, `{"to": {"all": true}, "text": "hi"} {}`, nil, "invalid_request"},
		{"bad fields", "POST", "/api/v1/messages", token, `{"to": {"all": true}, "text": ""}`, nil, "invalid_request"},
		{"unknown user", "POST", "/api/v1/messages", token, `{"to": {"users": ["王五"]}, "text": "hi"}`, nil, "unknown_user"},
		{"not bound", "POST", "/api/v1/messages", token, `{"to": {"users": ["unbound"]}, "text": "hi"}`, nil, "not_bound"},
		{"too large", "POST", "/api/v1/messages", token, `{"to": {"all": true}, "text": "` + strings.Repeat("长", 30000) + `"}`, nil, "too_large"},
		{"bad idempotency key", "POST", "/api/v1/messages", token, `{}`, []string{"Idempotency-Key", "有空格 的键"}, "invalid_idempotency_key"},
	}
	goWords := regexp.MustCompile(`invalid character|json:|unexpected|EOF|looking for|cannot unmarshal|http:`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.api(t, tt.method, tt.path, tt.token, tt.body, tt.hdr...)
			e, _ := r.JSON["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if r.errCode() != tt.code || !cjk.MatchString(msg) || goWords.MatchString(msg) {
				t.Errorf("%d code %q message %q; want code %s and a Chinese message without the decoder's words", r.Status, r.errCode(), msg, tt.code)
			}
		})
	}

	// A personal push URL given broken JSON: the same.
	key := admin.sendKey()
	res := admin.postJSON(key, `{"title": "告警", "content": 42}`)
	if res.Status != http.StatusBadRequest || goWords.MatchString(res.Body) || !cjk.MatchString(res.Body) {
		t.Errorf("push URL with bad JSON: %d %s", res.Status, res.Body)
	}
}
