package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

func TestAPI_IdempotencyKey(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.syncTemplates(t)
	token := admin.createToken("ci")
	other := admin.createToken("other")
	free := sandbox.TemplateID(testAppID, "测试消息")
	body := `{"to":{"all":true},"template":{"id":"` + free + `","data":{"content":"部署完成"}}}`

	first := app.api(t, "POST", "/api/v1/messages", token, body, "Idempotency-Key", "deploy-42")
	if first.Status != http.StatusAccepted || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s (replayed %q)", first.Status, first.Body, first.Header.Get("Idempotent-Replayed"))
	}
	// The client's connection broke after the commit; it retries.
	retry := app.api(t, "POST", "/api/v1/messages", token, body, "Idempotency-Key", "deploy-42")
	if retry.Status != first.Status || retry.Body != first.Body || retry.Header.Get("Idempotent-Replayed") != "true" ||
		retry.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("retry: %d %s %v, want the first answer replayed:\n%s", retry.Status, retry.Body, retry.Header, first.Body)
	}
	// The same key with another body is a mistake, not a retry.
	changed := strings.Replace(body, "部署完成", "部署失败", 1)
	r := app.api(t, "POST", "/api/v1/messages", token, changed, "Idempotency-Key", "deploy-42")
	if r.Status != http.StatusUnprocessableEntity || r.errCode() != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	// Keys belong to a token.
	if r := app.api(t, "POST", "/api/v1/messages", other, body, "Idempotency-Key", "deploy-42"); r.Status != http.StatusAccepted ||
		r.JSON["id"] == first.JSON["id"] || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another token, same key: %d %s", r.Status, r.Body)
	}
	// After a day the key is free again.
	app.Clock.Advance(25 * time.Hour)
	if r := app.api(t, "POST", "/api/v1/messages", token, body, "Idempotency-Key", "deploy-42"); r.Status != http.StatusAccepted ||
		r.JSON["id"] == first.JSON["id"] {
		t.Fatalf("a day later: %d %s, want a new message", r.Status, r.Body)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "with space", "中文"} {
		r := app.api(t, "POST", "/api/v1/messages", token, body, "Idempotency-Key", bad)
		if r.Status != http.StatusBadRequest || r.errCode() != "invalid_idempotency_key" {
			t.Errorf("key %q: %d %s", bad, r.Status, r.Body)
		}
	}
	ms, _ := app.Store.Messages(context.Background(), 10, 0)
	if len(ms) != 3 {
		t.Errorf("%d messages queued, want 3 (first, other token, a day later)", len(ms))
	}
}

func TestSendKey_IdempotencyKey(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.SB.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		t.Fatal(err)
	}
	b := app.bindUser(t, "root")
	app.syncTemplates(t)
	key := b.sendKey()
	push := func(title, idem string) resp {
		req, _ := http.NewRequest("POST", key, strings.NewReader(url.Values{"title": {title}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Idempotency-Key", idem)
		return b.do(req)
	}
	first := push("备份完成", "backup-1")
	again := push("备份完成", "backup-1")
	if first.Status != http.StatusAccepted || again.Status != http.StatusAccepted || again.Body != first.Body ||
		again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s; retry %d %s %v", first.Status, first.Body, again.Status, again.Body, again.Header)
	}
	if r := push("备份失败", "backup-1"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "idempotency_key_reused") {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	if r := push("备份完成", "backup-2"); r.Status != http.StatusAccepted || r.Body == first.Body {
		t.Fatalf("another key: %d %s", r.Status, r.Body)
	}
	// A new push URL starts with fresh keys.
	key = b.sendKey()
	if r := push("备份完成", "backup-1"); r.Status != http.StatusAccepted || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("new push URL, old idempotency key: %d %s", r.Status, r.Body)
	}
	ms, _ := app.Store.Messages(context.Background(), 10, 0)
	if len(ms) != 3 {
		t.Errorf("%d messages queued, want 3", len(ms))
	}
}
