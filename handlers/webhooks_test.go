package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/webhooks"
)

// hookSink is a site's webhook receiver on loopback: it checks every
// request's signature with the secrets it is told and keeps the bodies.
type hookSink struct {
	t   *testing.T
	URL string
	mu  sync.Mutex
	got []hookReq
}

type hookReq struct {
	Type, ID, Signature string
	Body                []byte
	Data                map[string]any
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		json.Unmarshal(b, &body)
		h.mu.Lock()
		h.got = append(h.got, hookReq{Type: r.Header.Get(webhooks.HeaderEvent), ID: r.Header.Get(webhooks.HeaderDelivery),
			Signature: r.Header.Get(webhooks.HeaderSignature), Body: b, Data: body.Data})
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// take returns what arrived since the last take, each checked against secret.
func (h *hookSink) take(secret string) []hookReq {
	h.t.Helper()
	h.mu.Lock()
	got := h.got
	h.got = nil
	h.mu.Unlock()
	for _, r := range got {
		if err := webhooks.Verify(r.Signature, r.Body, secret, webhooks.DefaultTolerance, time.Now()); err != nil {
			h.t.Errorf("%s %s: %v", r.Type, r.ID, err)
		}
	}
	return got
}

func types(rs []hookReq) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Type)
	}
	return out
}

// deliverHooks runs a webhook worker over the app's database until
// nothing is due.
func (a *testApp) deliverHooks(t *testing.T) {
	t.Helper()
	if _, err := webhooks.New(a.Store, webhooks.Config{}, nil).DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWebhooks_APICreatesEndpointsThatReceiveSignedEvents(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	token := admin.createToken("hooks")
	sink := newHookSink(t)

	bad := app.api(t, "POST", "/api/v1/webhooks", token, `{"url":"ftp://x","events":["user.sneezed"]}`)
	if bad.Status != http.StatusBadRequest || bad.fields()["url"] == nil || bad.fields()["events"] == nil {
		t.Fatalf("invalid endpoint: %d %s", bad.Status, bad.Body)
	}
	r := app.api(t, "POST", "/api/v1/webhooks", token,
		`{"url":"`+sink.URL+`/in","events":["message.finished","binding.created","delivery.finished"],"description":"会员系统"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	secret, _ := r.JSON["secret"].(string)
	id, _ := r.JSON["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(id, "whk_") || r.Header.Get("Location") != "/api/v1/webhooks/"+id {
		t.Fatalf("create answer %s", r.Body)
	}
	if evs := r.JSON["events"].([]any); len(evs) != 3 || evs[0] != "binding.created" {
		t.Errorf("events %v, want the documented order", evs)
	}
	list := app.api(t, "GET", "/api/v1/webhooks", token, "")
	if list.Status != 200 || strings.Contains(list.Body, secret) || !strings.Contains(list.Body, id) {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	if one := app.api(t, "GET", "/api/v1/webhooks/"+id, token, ""); one.Status != 200 || strings.Contains(one.Body, secret) {
		t.Fatalf("get: %d %s", one.Status, one.Body)
	}

	app.bindUser(t, "bob")
	send := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["bob"]},"text":"你好"}`)
	if send.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", send.Status, send.Body)
	}
	waitDone(t, app, token, send.JSON["status_url"].(string))
	app.deliverHooks(t)
	got := sink.take(secret)
	if want := []string{"binding.created", "delivery.finished", "message.finished"}; strings.Join(types(got), " ") != strings.Join(want, " ") {
		t.Fatalf("received %v, want %v", types(got), want)
	}
	if u, _ := got[0].Data["user"].(map[string]any); u["name"] != "bob" {
		t.Errorf("binding.created data %v", got[0].Data)
	}
	if got[1].Data["message_id"] != send.JSON["id"] || got[2].Data["total"] != float64(1) {
		t.Errorf("delivery/message data %v %v", got[1].Data, got[2].Data)
	}

	rot := app.api(t, "POST", "/api/v1/webhooks/"+id+"/secret", token, `{"grace_seconds":3600}`)
	newSecret, _ := rot.JSON["secret"].(string)
	if rot.Status != 200 || newSecret == secret || rot.JSON["old_secret_valid_until"] == nil {
		t.Fatalf("rotate: %d %s", rot.Status, rot.Body)
	}
	if tr := app.api(t, "POST", "/api/v1/webhooks/"+id+"/test", token, ""); tr.Status != http.StatusAccepted {
		t.Fatalf("test event: %d %s", tr.Status, tr.Body)
	}
	app.deliverHooks(t)
	// During the grace period either secret verifies.
	old := sink.got[0]
	for _, s := range []string{secret, newSecret} {
		if err := webhooks.Verify(old.Signature, old.Body, s, webhooks.DefaultTolerance, time.Now()); err != nil {
			t.Errorf("after rotation, %s…: %v", s[:10], err)
		}
	}
	if tt := types(sink.take(newSecret)); len(tt) != 1 || tt[0] != "webhook.test" {
		t.Fatalf("test event: %v", tt)
	}

	del, _ := http.NewRequest("DELETE", app.URL+"/api/v1/webhooks/"+id, nil)
	del.Header.Set("Authorization", "Bearer "+token)
	if res, err := http.DefaultClient.Do(del); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", err, res)
	}
	if g := app.api(t, "GET", "/api/v1/webhooks/"+id, token, ""); g.Status != http.StatusNotFound || g.errCode() != "not_found" {
		t.Fatalf("deleted endpoint: %d %s", g.Status, g.Body)
	}
}

var newSecretRE = regexp.MustCompile(`id="new-secret" class="copy" data-endpoint="(whk_[A-Za-z0-9]+)">(whsec_[A-Za-z0-9]+)<`)

func TestWebhooks_DashboardShowsTheSecretOnceAndTheDeliveryLog(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	sink := newHookSink(t)

	if r := admin.post("/admin/webhooks", url.Values{"url": {"example.com"}, "events": {"user.followed"}}); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, "http:// 或 https://") || !strings.Contains(r.Body, `value="example.com"`) {
		t.Fatalf("invalid URL: %d\n%s", r.Status, r.Body)
	}
	r := admin.post("/admin/webhooks", url.Values{"url": {sink.URL}, "events": {"user.followed", "user.message"}})
	m := newSecretRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d (no secret shown)\n%s", r.Status, r.Body)
	}
	id, secret := m[1], m[2]
	for _, p := range []string{"/admin/webhooks", "/admin/webhooks/" + id, "/admin"} {
		if page := admin.get(p); page.Status != 200 || strings.Contains(page.Body, secret) {
			t.Fatalf("GET %s: %d, or it shows the secret again", p, page.Status)
		}
	}
	if r := admin.post("/admin/webhooks/"+id+"/test", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("send test event: %d\n%s", r.Status, r.Body)
	}
	app.deliverHooks(t)
	got := sink.take(secret)
	if len(got) != 1 || got[0].Type != "webhook.test" {
		t.Fatalf("received %v", types(got))
	}
	page := admin.get("/admin/webhooks/" + id)
	if !strings.Contains(page.Body, got[0].ID) || !strings.Contains(page.Body, "成功") || !regexp.MustCompile(`class="code">200<`).MatchString(page.Body) ||
		!strings.Contains(page.Body, " ms<") {
		t.Fatalf("the delivery log does not show the attempt:\n%s", page.Body)
	}

	rot := admin.post("/admin/webhooks/"+id+"/rotate", url.Values{"grace": {"24h"}})
	m2 := newSecretRE.FindStringSubmatch(rot.Body)
	if rot.Status != 200 || m2 == nil || m2[2] == secret || !strings.Contains(rot.Body, `id="old-secret"`) {
		t.Fatalf("rotate: %d\n%s", rot.Status, rot.Body)
	}
	if r := admin.post("/admin/webhooks/"+id+"/disable", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.Status)
	}
	if r := admin.post("/admin/webhooks/"+id+"/test", nil); r.Status != http.StatusConflict {
		t.Fatalf("test event to a disabled endpoint: %d", r.Status)
	}
	if r := admin.post("/admin/webhooks/"+id+"/delete", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := admin.get("/admin/webhooks/" + id); r.Status != http.StatusNotFound {
		t.Fatalf("deleted endpoint page: %d", r.Status)
	}
	audit := admin.get("/admin").Body
	for _, a := range []string{"添加 Webhook", "发送测试事件", "轮换 Webhook 密钥", "停用 Webhook", "删除 Webhook"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}

	user := app.browser(t)
	user.signup("plain")
	if r := user.get("/admin/webhooks"); r.Status != http.StatusForbidden {
		t.Errorf("non-admin: %d", r.Status)
	}
}
