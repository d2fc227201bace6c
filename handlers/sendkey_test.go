package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

var newKeyURL = regexp.MustCompile(`<code id="sendkey-url" class="copy">([^<]+)</code>`)

// sendKey generates the browser user's personal push URL.
func (b *browser) sendKey() string {
	b.t.Helper()
	r := b.follow(b.post("/sendkey/rotate", nil))
	m := newKeyURL.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		b.t.Fatalf("rotate: %d\n%s", r.Status, r.Body)
	}
	return m[1]
}

func decode(t *testing.T, r resp) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
		t.Fatalf("not JSON (%d): %s", r.Status, r.Body)
	}
	return v
}

func TestSendKey_PushToSelfAndRotate(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	b := app.bindUser(t, "alice")
	app.syncTemplates(t)
	key := b.sendKey()
	if !strings.HasPrefix(key, app.URL+"/send/wxs_") {
		t.Fatalf("push URL %q", key)
	}
	if strings.Contains(b.get("/").Body, key) {
		t.Error("the account page shows the full key again after it was generated")
	}
	script := app.browser(t) // a script: no session

	// GET with query, POST form, POST JSON with desp.
	reqs := []func() resp{
		func() resp {
			return script.get(key + "?" + url.Values{"title": {"部署完成"}, "content": {"v1.2.3"}}.Encode())
		},
		func() resp {
			return script.post(key, url.Values{"title": {"备份完成"}, "desp": {"12 GB"}, "url": {"https://example.com/b"}})
		},
		func() resp {
			return script.postJSON(key, `{"title":"告警","desp":"CPU 95%"}`)
		},
	}
	for i, do := range reqs {
		r := do()
		if r.Status != http.StatusAccepted {
			t.Fatalf("push %d: %d %s", i, r.Status, r.Body)
		}
		data, _ := decode(t, r)["data"].(map[string]any)
		if data == nil || data["id"] == nil {
			t.Fatalf("push %d: no message id in %s", i, r.Body)
		}
	}
	openid := app.SB.AddUser("alice").OpenID
	deadline := time.Now().Add(10 * time.Second)
	for len(app.SB.Inbox(openid)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("phone has %d messages, want 3", len(app.SB.Inbox(openid)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Workers deliver concurrently: the cards may arrive in any order.
	var cards []string
	for _, m := range app.SB.Inbox(openid) {
		cards = append(cards, m.Content+m.Title+joinFields(m))
	}
	for _, want := range []string{"部署完成 v1.2.3", "备份完成 12 GB", "告警 CPU 95%"} {
		title, content, _ := strings.Cut(want, " ")
		if !slices.ContainsFunc(cards, func(c string) bool { return strings.Contains(c, title) && strings.Contains(c, content) }) {
			t.Errorf("no card with %q and %q among %q", title, content, cards)
		}
	}

	// Rotation invalidates the old key.
	newKey := b.sendKey()
	if newKey == key {
		t.Fatal("rotation returned the same key")
	}
	if r := script.get(key + "?title=x"); r.Status != http.StatusNotFound {
		t.Errorf("old key after rotation: %d %s", r.Status, r.Body)
	}
	if r := script.get(newKey + "?title=x"); r.Status != http.StatusAccepted {
		t.Errorf("new key: %d %s", r.Status, r.Body)
	}
	if k, err := app.Store.SendKey(context.Background(), mustUser(t, app, "alice").ID); err != nil || strings.Contains(newKey, k.Prefix+"…") {
		t.Errorf("send key info %+v, %v", k, err)
	}
}

func joinFields(m sandbox.Message) string {
	var b strings.Builder
	for _, f := range m.Fields {
		b.WriteString(f.Value + " ")
	}
	return b.String()
}

func TestSendKey_Errors(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	bound := app.bindUser(t, "alice")
	unbound := app.browser(t)
	unbound.signup("bob")
	script := app.browser(t)
	bobKey := unbound.sendKey()

	// Before templates are synced there is nothing to send with.
	aliceKey := bound.sendKey()
	if r := script.get(aliceKey + "?title=x"); r.Status != http.StatusServiceUnavailable {
		t.Errorf("no template: %d %s", r.Status, r.Body)
	}
	app.syncTemplates(t)
	tests := []struct {
		name   string
		do     func() resp
		status int
		code   string
	}{
		{"unknown key", func() resp { return script.get("/send/wxs_nope?title=x") }, 404, "unknown_key"},
		{"not a key", func() resp { return script.get("/send/anything?title=x") }, 404, "unknown_key"},
		{"missing title", func() resp { return script.get(aliceKey + "?content=x") }, 400, "invalid_request"},
		{"bad json", func() resp { return script.postJSON(aliceKey, `{"title":`) }, 400, "invalid_request"},
		{"bad url", func() resp { return script.get(aliceKey + "?title=x&url=ftp://x") }, 400, "invalid_request"},
		{"not bound", func() resp { return script.get(bobKey + "?title=x") }, 409, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			e, _ := decode(t, r)["error"].(map[string]any)
			if e == nil || e["code"] != tt.code || e["message"] == "" {
				t.Errorf("error body %s", r.Body)
			}
		})
	}
	// Rate limit: a burst of 10 (the requests above used some), then 429
	// with Retry-After.
	limited := false
	for range 20 {
		r := script.get(aliceKey + "?title=burst")
		if r.Status == http.StatusTooManyRequests {
			if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 with Retry-After %q", ra)
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Error("no 429 after the burst")
	}
}
