package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

var newTokenRE = regexp.MustCompile(`id="new-token" class="copy">(wxp_[A-Za-z0-9]+)<`)

// createToken makes an API token on the dashboard, as an admin does, and
// returns it.
func (b *browser) createToken(name string) string {
	b.t.Helper()
	r := b.follow(b.post("/admin/tokens", url.Values{"name": {name}, "scopes": {"send", "read", "manage"}}))
	m := newTokenRE.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil {
		b.t.Fatalf("create token %q: %d\n%s", name, r.Status, r.Body)
	}
	return m[1]
}

// apiResp is an API answer with its JSON decoded.
type apiResp struct {
	resp
	JSON map[string]any
}

// errCode and fields read the {"error": {...}} body.
func (r apiResp) errCode() string {
	e, _ := r.JSON["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r apiResp) fields() map[string]any {
	e, _ := r.JSON["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

// api calls the API as a program does: no cookies, no browser headers.
func (a *testApp) api(t *testing.T, method, path, token, body string, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := apiResp{resp: resp{res.StatusCode, res.Header, string(b)}}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON\n%s", method, path, ct, b)
	}
	if err := json.Unmarshal(b, &out.JSON); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, b)
	}
	return out
}

func TestAPI_BadTokensGet401(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	revoked := admin.createToken("old")
	good := admin.createToken("ci")
	var revokedID string
	if m := regexp.MustCompile(`action="/admin/tokens/(\d+)/revoke"`).FindAllStringSubmatch(admin.get("/admin/tokens").Body, -1); len(m) == 2 {
		revokedID = m[1][1] // newest first: "old" is second
	}
	if r := admin.post("/admin/tokens/"+revokedID+"/revoke", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", r.Status, r.Body)
	}
	tests := []struct {
		name, auth string
	}{
		{"missing", ""},
		{"basic scheme", "Basic " + good},
		{"bearer without token", "Bearer "},
		{"token without scheme", good},
		{"malformed token", "Bearer not-a-token"},
		{"unknown token", "Bearer wxp_" + strings.Repeat("x", 40)},
		{"truncated token", "Bearer " + good[:len(good)-1]},
		{"revoked token", "Bearer " + revoked},
	}
	for _, tt := range tests {
		for _, ep := range []struct{ method, path, body string }{
			{"GET", "/api/v1/users", ""},
			{"GET", "/api/v1/messages/1", ""},
			{"POST", "/api/v1/messages", `{"to":{"all":true},"text":"hi"}`},
		} {
			t.Run(tt.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				r := app.api(t, ep.method, ep.path, "", ep.body, "Authorization", tt.auth)
				if r.Status != http.StatusUnauthorized || r.errCode() != "unauthorized" {
					t.Fatalf("status %d code %q, want 401 unauthorized\n%s", r.Status, r.errCode(), r.Body)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	if r := app.api(t, "GET", "/api/v1/users", "", "", "Authorization", "Bearer "+revoked); !strings.Contains(r.Body, "已被吊销") {
		t.Errorf("a revoked token is not told apart: %s", r.Body)
	}
	if r := app.api(t, "GET", "/api/v1/users", good, ""); r.Status != http.StatusOK {
		t.Fatalf("the good token: %d\n%s", r.Status, r.Body)
	}
	if ms, _ := app.Store.Messages(context.Background(), 10, 0); len(ms) != 0 {
		t.Error("a request without a valid token queued a message")
	}
}

func TestAPI_InvalidSendsAreRefusedFieldByField(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.browser(t).signup("unbound")
	app.syncTemplates(t)
	token := admin.createToken("ci")
	status := sandbox.TemplateID(testAppID, "服务状态通知") // thing1, phrase2, time3
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		field  string // a key of error.fields ("" for none required)
	}{
		{"empty body", ``, 400, "invalid_request", ""},
		{"not JSON", `to=all&text=hi`, 400, "invalid_request", ""},
		{"truncated JSON", `{"to":{"all":true},"text":"hi"`, 400, "invalid_request", ""},
		{"array", `[]`, 400, "invalid_request", ""},
		{"trailing data", `{"to":{"all":true},"text":"hi"} {}`, 400, "invalid_request", ""},
		{"unknown field", `{"to":{"all":true},"text":"hi","priority":1}`, 400, "invalid_request", "priority"},
		{"wrong type", `{"to":{"users":"root"},"text":"hi"}`, 400, "invalid_request", "to.users"},
		{"no recipients", `{"text":"hi"}`, 400, "invalid_request", "to"},
		{"users and all", `{"to":{"users":["root"],"all":true},"text":"hi"}`, 400, "invalid_request", "to"},
		{"no users", `{"to":{"users":[]},"text":"hi"}`, 400, "invalid_request", "to.users"},
		{"all false", `{"to":{"all":false},"text":"hi"}`, 400, "invalid_request", "to"},
		{"text and template", `{"to":{"all":true},"text":"hi","template":{"id":"x"}}`, 400, "invalid_request", "template"},
		{"neither text nor template", `{"to":{"all":true}}`, 400, "invalid_request", "text"},
		{"empty text", `{"to":{"all":true},"text":"  "}`, 400, "invalid_request", "text"},
		{"content without title", `{"to":{"all":true},"content":"x"}`, 400, "invalid_request", "title"},
		{"title and text", `{"to":{"all":true},"title":"x","text":"y"}`, 400, "invalid_request", "title"},
		{"empty title", `{"to":{"all":true},"title":" ","content":"x"}`, 400, "invalid_request", "title"},
		{"content type", `{"to":{"all":true},"title":"x","content_type":"html"}`, 400, "invalid_request", "content_type"},
		{"notification link", `{"to":{"all":true},"title":"x","url":"ftp://x"}`, 400, "invalid_request", "url"},
		{"notification without template", `{"to":{"all":true},"title":"x","content":"y"}`, 503, "no_template", ""},
		{"no template id", `{"to":{"all":true},"template":{"data":{}}}`, 400, "invalid_request", "template.id"},
		{"unknown template", `{"to":{"all":true},"template":{"id":"nope"}}`, 400, "invalid_request", "template.id"},
		{"missing template field", `{"to":{"all":true},"template":{"id":"` + status + `","data":{"phrase2":"正常","time3":"15:01"}}}`, 400, "invalid_request", "template.data.thing1"},
		{"template field breaks WeChat's rule", `{"to":{"all":true},"template":{"id":"` + status + `","data":{"thing1":"api","phrase2":"not chinese","time3":"15:01"}}}`, 400, "invalid_request", "template.data.phrase2"},
		{"template field not in template", `{"to":{"all":true},"template":{"id":"` + status + `","data":{"thing1":"api","phrase2":"正常","time3":"15:01","extra":"x"}}}`, 400, "invalid_request", "template.data.extra"},
		{"template value not a string", `{"to":{"all":true},"template":{"id":"` + status + `","data":{"thing1":1}}}`, 400, "invalid_request", "template.data"},
		{"bad link", `{"to":{"all":true},"template":{"id":"` + status + `","data":{"thing1":"api","phrase2":"正常","time3":"15:01"},"url":"javascript:alert(1)"}}`, 400, "invalid_request", "template.url"},
		{"unknown user", `{"to":{"users":["root","nobody"]},"text":"hi"}`, 404, "unknown_user", "to.users"},
		{"unbound user", `{"to":{"users":["unbound"]},"text":"hi"}`, 422, "not_bound", "to.users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.api(t, "POST", "/api/v1/messages", token, tt.body)
			if r.Status != tt.status || r.errCode() != tt.code {
				t.Fatalf("status %d code %q, want %d %q\n%s", r.Status, r.errCode(), tt.status, tt.code, r.Body)
			}
			if tt.field != "" {
				msg, _ := r.fields()[tt.field].(string)
				if msg == "" {
					t.Fatalf("no message for field %q\n%s", tt.field, r.Body)
				}
			}
			if tt.code == "unknown_user" && !strings.Contains(r.Body, "nobody") {
				t.Errorf("the unknown name is not named: %s", r.Body)
			}
		})
	}

	t.Run("content over 64 KB", func(t *testing.T) {
		for _, body := range []string{
			`{"to":{"all":true},"text":"` + strings.Repeat("x", 70<<10) + `"}`,
			`{"to":{"all":true},"title":"x","content":"` + strings.Repeat("长", 22<<10) + `"}`,
		} {
			r := app.api(t, "POST", "/api/v1/messages", token, body)
			if r.Status != http.StatusRequestEntityTooLarge || r.errCode() != "too_large" || !strings.Contains(r.Body, "64 KB") {
				t.Fatalf("status %d code %q\n%.300s", r.Status, r.errCode(), r.Body)
			}
		}
	})
	t.Run("body over 256 KB", func(t *testing.T) {
		r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"all":true},"title":"x","content":"`+strings.Repeat("x", 260<<10)+`"}`)
		if r.Status != http.StatusRequestEntityTooLarge || r.errCode() != "too_large" {
			t.Fatalf("status %d code %q\n%.300s", r.Status, r.errCode(), r.Body)
		}
	})
	t.Run("form content type", func(t *testing.T) {
		r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"all":true},"text":"hi"}`,
			"Content-Type", "application/x-www-form-urlencoded")
		if r.Status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d\n%s", r.Status, r.Body)
		}
	})
	if ms, _ := app.Store.Messages(context.Background(), 10, 0); len(ms) != 0 {
		t.Errorf("%d messages queued from invalid requests", len(ms))
	}
}

// waitDone polls a message's status until every delivery is final.
func waitDone(t *testing.T, app *testApp, token, statusURL string) apiResp {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := app.api(t, "GET", statusURL, token, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", statusURL, r.Status, r.Body)
		}
		if r.JSON["done"] == true {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after 20 s:\n%s", r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAPI_SendThenFollowDeliveries(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	token := admin.createToken("ci")
	// alice writes to the account, which opens her 48-hour window for text.
	if err := app.SB.Say(sandbox.OpenID(testAppID, "alice"), "你好"); err != nil {
		t.Fatal(err)
	}
	free := sandbox.TemplateID(testAppID, "测试消息")
	tests := []struct {
		name, body string
		want       []string // recipients
	}{
		{"text to one user", `{"to":{"users":["alice"]},"text":"部署完成"}`, []string{"alice"}},
		{"template to all", `{"to":{"all":true},"template":{"id":"` + free + `","data":{"content":"CPU 95%"},"url":"https://example.com/a"}}`,
			[]string{"alice", "root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.api(t, "POST", "/api/v1/messages", token, tt.body)
			if r.Status != http.StatusAccepted {
				t.Fatalf("status %d\n%s", r.Status, r.Body)
			}
			id, _ := r.JSON["id"].(float64)
			statusURL, _ := r.JSON["status_url"].(string)
			if id <= 0 || statusURL != fmt.Sprintf("/api/v1/messages/%d", int64(id)) || r.Header.Get("Location") != statusURL {
				t.Fatalf("answer %s, Location %q", r.Body, r.Header.Get("Location"))
			}
			if n, _ := r.JSON["recipients"].(float64); int(n) != len(tt.want) {
				t.Errorf("recipients %v, want %d", r.JSON["recipients"], len(tt.want))
			}
			st := waitDone(t, app, token, statusURL)
			counts, _ := st.JSON["counts"].(map[string]any)
			if counts["sent"] != float64(len(tt.want)) || counts["failed"] != float64(0) || st.JSON["total"] != float64(len(tt.want)) {
				t.Fatalf("counts %v\n%s", counts, st.Body)
			}
			if _, err := time.Parse(time.RFC3339, st.JSON["created_at"].(string)); err != nil {
				t.Errorf("created_at: %v", err)
			}
			rcpts, _ := st.JSON["recipients"].([]any)
			var got []string
			for _, x := range rcpts {
				rc := x.(map[string]any)
				got = append(got, rc["user"].(string))
				if msgid, ok := rc["msgid"].(string); ok || strings.HasPrefix(tt.name, "template") {
					if _, err := strconv.ParseInt(msgid, 10, 64); err != nil {
						t.Errorf("msgid %#v, want a decimal string", rc["msgid"])
					}
				}
				if rc["state"] != "sent" || !strings.Contains(rc["openid"].(string), "…") {
					t.Errorf("recipient %v", rc)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("recipients %v, want %v", got, tt.want)
			}
		})
	}
	// alice's phone got both.
	got := 0
	for _, m := range app.SB.Inbox(sandbox.OpenID(testAppID, "alice")) {
		if !m.FromUser && (m.Content == "部署完成" || strings.Contains(fmt.Sprint(m.Fields), "CPU 95%")) {
			got++
		}
	}
	if got != 2 {
		t.Errorf("alice's phone shows %d of the 2 messages", got)
	}

	// Who sent what to whom.
	log, err := app.Store.AuditLog(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	sends := 0
	for _, e := range log {
		if e.Action == "message.send" {
			sends++
			if e.Actor != "api:ci" || e.ActorID != 0 || !strings.Contains(e.Target, "消息 #") {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if sends != 2 {
		t.Errorf("%d message.send audit entries, want 2", sends)
	}
}

func TestAPI_MessageStatusUnknownIs404(t *testing.T) {
	app := newTestApp(t)
	token := app.bindUser(t, "root").createToken("ci")
	for _, p := range []string{"/api/v1/messages/999", "/api/v1/messages/abc", "/api/v1/messages/-1"} {
		if r := app.api(t, "GET", p, token, ""); r.Status != http.StatusNotFound || r.errCode() != "not_found" {
			t.Errorf("GET %s: %d %q", p, r.Status, r.errCode())
		}
	}
}

func TestAPI_Users(t *testing.T) {
	app := newTestApp(t)
	token := app.bindUser(t, "root").createToken("ci")
	app.browser(t).signup("bob")
	r := app.api(t, "GET", "/api/v1/users", token, "")
	if r.Status != http.StatusOK {
		t.Fatalf("%d\n%s", r.Status, r.Body)
	}
	var body struct {
		Users []struct {
			Name      string  `json:"name"`
			Bound     bool    `json:"bound"`
			OpenID    *string `json:"openid"`
			BoundAt   *string `json:"bound_at"`
			Following *bool   `json:"following"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Users) != 2 {
		t.Fatalf("users %s", r.Body)
	}
	bob, root := body.Users[0], body.Users[1]
	if bob.Name != "bob" || bob.Bound || bob.OpenID != nil || bob.BoundAt != nil || bob.Following != nil {
		t.Errorf("bob %s", r.Body)
	}
	full := sandbox.OpenID(testAppID, "root")
	if root.Name != "root" || !root.Bound || root.OpenID == nil || *root.OpenID == full || !strings.Contains(*root.OpenID, "…") || root.BoundAt == nil {
		t.Errorf("root %s", r.Body)
	}
	if strings.Contains(r.Body, full) {
		t.Error("the list shows a full openid")
	}
}

func TestAPI_RateLimitAnswers429WithRetryAfter(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	token, other := admin.createToken("busy"), admin.createToken("other")
	// The app's clock stands still, so the bucket does not refill.
	ok := 0
	var r apiResp
	for range 200 {
		if r = app.api(t, "GET", "/api/v1/users", token, ""); r.Status != http.StatusOK {
			break
		}
		ok++
	}
	if ok != 100 || r.Status != http.StatusTooManyRequests || r.errCode() != "rate_limited" {
		t.Fatalf("%d requests passed, then %d %q; want 100 then 429", ok, r.Status, r.errCode())
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Other tokens have their own bucket.
	if r := app.api(t, "GET", "/api/v1/users", other, ""); r.Status != http.StatusOK {
		t.Errorf("another token: %d", r.Status)
	}
	app.Clock.Advance(time.Second)
	if r := app.api(t, "GET", "/api/v1/users", token, ""); r.Status != http.StatusOK {
		t.Errorf("a second later: %d", r.Status)
	}
}

func TestAPI_UnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	app := newTestApp(t)
	token := app.bindUser(t, "root").createToken("ci")
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v1/nope", 404, ""},
		{"GET", "/api/v2/messages", 404, ""},
		{"GET", "/api/v1/users/", 404, ""},
		{"GET", "/api/v1/messages", 405, "POST"},
		{"DELETE", "/api/v1/users", 405, "GET, HEAD"},
		{"PUT", "/api/v1/messages/1", 405, "GET, HEAD"},
		{"POST", "/api/v1/openapi.json", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		r := app.api(t, tt.method, tt.path, token, "")
		if r.Status != tt.status || r.Header.Get("Allow") != tt.allow || r.errCode() == "" {
			t.Errorf("%s %s: %d Allow %q code %q, want %d Allow %q", tt.method, tt.path, r.Status,
				r.Header.Get("Allow"), r.errCode(), tt.status, tt.allow)
		}
	}
}

func TestAPI_BrowserCrossSitePostIsRefused(t *testing.T) {
	app := newTestApp(t)
	token := app.bindUser(t, "root").createToken("ci")
	req, _ := http.NewRequest("POST", app.URL+"/api/v1/messages", strings.NewReader(`{"to":{"all":true},"text":"hi"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(string(body), `"code":"cross_origin"`) {
		t.Fatalf("a cross-site browser POST: %d %s %s, want a JSON 403", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if ms, _ := app.Store.Messages(context.Background(), 10, 0); len(ms) != 0 {
		t.Error("a cross-site POST queued a message")
	}
	// The same for a personal push URL.
	key := app.bindUser(t, "alice").sendKey()
	req, _ = http.NewRequest("POST", key, strings.NewReader(`title=hi`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"cross_origin"`) {
		t.Fatalf("a cross-site POST to a push URL: %d %s, want a JSON 403", res.StatusCode, body)
	}
}

func TestAPITokens_ShownOnceListedByPrefixRevocable(t *testing.T) {
	ctx := context.Background()
	app := newTestApp(t)
	admin := app.bindUser(t, "root")

	if r := admin.follow(admin.post("/admin/tokens", url.Values{"name": {"  "}})); !strings.Contains(r.Body, "请填写令牌名称") {
		t.Errorf("empty name: %d", r.Status)
	}
	long := strings.Repeat("长", 65)
	if r := admin.follow(admin.post("/admin/tokens", url.Values{"name": {long}})); !strings.Contains(r.Body, "最多 64 个字符") || !strings.Contains(r.Body, `value="`+long+`"`) {
		t.Errorf("long name: %d (the refused name should stay in the form)", r.Status)
	}

	r := admin.follow(admin.post("/admin/tokens", url.Values{"name": {"CI 部署"}, "scopes": {"send", "read", "manage"}}))
	m := newTokenRE.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil || !strings.Contains(r.Body, "请立即复制，此令牌只显示这一次") {
		t.Fatalf("create: %d\n%s", r.Status, r.Body)
	}
	token := m[1]
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with the token may be cached: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	if !strings.Contains(r.Body, "Authorization: Bearer "+token) || !strings.Contains(r.Body, app.URL+"/api/v1/messages") {
		t.Error("no curl example with the token and the site's URL")
	}

	list := admin.get("/admin/tokens")
	if list.Status != http.StatusOK || strings.Contains(list.Body, token) || strings.Contains(list.Body, token[8:]) {
		t.Fatalf("the list shows the token again (or fails: %d)", list.Status)
	}
	if !strings.Contains(list.Body, token[:8]+"…") || !strings.Contains(list.Body, "CI 部署") || !strings.Contains(list.Body, "从未使用") {
		t.Errorf("the list does not show name, prefix and 从未使用:\n%s", list.Body)
	}
	if !strings.Contains(admin.get("/admin").Body, `href="/admin/tokens"`) {
		t.Error("no API 令牌 tab on the dashboard")
	}

	// Using the token shows in the list.
	if r := app.api(t, "GET", "/api/v1/users", token, ""); r.Status != 200 {
		t.Fatalf("use: %d", r.Status)
	}
	if strings.Contains(admin.get("/admin/tokens").Body, "从未使用") {
		t.Error("last use not shown after a use")
	}

	ts, _ := app.Store.APITokens(ctx)
	if len(ts) != 1 {
		t.Fatalf("%d tokens", len(ts))
	}
	if r := admin.post(fmt.Sprintf("/admin/tokens/%d/revoke", ts[0].ID), nil); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.Status)
	}
	if !strings.Contains(admin.get("/admin/tokens").Body, "已吊销") {
		t.Error("the list does not show the token revoked")
	}
	if r := app.api(t, "GET", "/api/v1/users", token, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", r.Status)
	}
	if r := admin.post("/admin/tokens/999/revoke", nil); r.Status != http.StatusNotFound {
		t.Errorf("revoke unknown: %d", r.Status)
	}

	log, _ := app.Store.AuditLog(ctx, 20)
	var actions []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "token.") {
			actions = append(actions, e.Action+" "+e.Actor+" "+e.Target)
		}
		if strings.Contains(e.Target+e.Detail, token[8:]) {
			t.Errorf("the audit log holds the token: %+v", e)
		}
	}
	want := []string{"token.revoke root API 令牌「CI 部署」", "token.create root API 令牌「CI 部署」"}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("audit %q, want %q", actions, want)
	}
}

func TestAPITokens_AdminsOnly(t *testing.T) {
	app := newTestApp(t)
	admin := app.browser(t)
	admin.signup("root")
	admin.createToken("ci")
	ts, _ := app.Store.APITokens(context.Background())
	user := app.browser(t)
	user.signup("plain")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/admin/tokens"},
		{"POST", "/admin/tokens"},
		{"POST", fmt.Sprintf("/admin/tokens/%d/revoke", ts[0].ID)},
	} {
		var r resp
		if rt.method == "GET" {
			r = user.get(rt.path)
		} else {
			r = user.post(rt.path, url.Values{"name": {"mine"}})
		}
		if r.Status != http.StatusForbidden {
			t.Errorf("%s %s as non-admin: %d", rt.method, rt.path, r.Status)
		}
	}
	if ts2, _ := app.Store.APITokens(context.Background()); len(ts2) != 1 || ts2[0].Revoked() {
		t.Error("a non-admin created or revoked a token")
	}
	if r := app.browser(t).get("/admin/tokens"); r.Status != http.StatusSeeOther {
		t.Errorf("signed out: %d, want a redirect to the login page", r.Status)
	}
}
