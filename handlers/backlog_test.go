package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
)

// TestBacklog_VisibleInTheAPIAndReadyzAndRefusedOverMax runs the site with
// no outbox, so that what is queued stays queued: the queue shows in GET
// /api/v1/messages/{id} and /readyz, and past WXPUSH_MAX_BACKLOG a push
// gets 503 with Retry-After.
func TestBacklog_VisibleInTheAPIAndReadyzAndRefusedOverMax(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Now()}
	st.SetClock(c.Now)
	ts := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + ts.Listener.Addr().String())
	svc := service.New(service.Deps{Store: st, Now: c.Now}, service.Config{BaseURL: base, MaxBacklog: 2})
	ts.Config.Handler = handlers.New(handlers.Server{App: svc, Store: st, Static: static.New(), Now: c.Now,
		Config: handlers.Config{BaseURL: base}}).Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	token, _, err := st.CreateAPIToken(ctx, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "api"},
		[]store.Recipient{{OpenID: "o1"}, {OpenID: "o2"}, {OpenID: "o3"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(90 * time.Second)

	call := func(method, path, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
		return res, out
	}

	_, msg := call("GET", fmt.Sprintf("/api/v1/messages/%d", m.ID), "")
	b, _ := msg["backlog"].(map[string]any)
	if b == nil || b["depth"] != 3.0 || b["depth_capped"] != false || b["oldest_seconds"] != 90.0 || b["ahead"] != 3.0 ||
		b["rate_per_second"] != 0.0 || b["eta_seconds"] != nil || b["message_eta_seconds"] != nil ||
		b["max_backlog"] != 2.0 || b["over_capacity"] != true {
		t.Errorf("message backlog %v; want depth 3, oldest 90 s, 3 ahead, no rate so no ETA, over the limit of 2", msg["backlog"])
	}

	// handlers turn RetryAt into Retry-After by the wall clock.
	c.Set(time.Now())
	res, e := call("POST", "/api/v1/messages", `{"to":{"all":true},"text":"more"}`)
	code, _ := e["error"].(map[string]any)["code"].(string)
	if res.StatusCode != http.StatusServiceUnavailable || code != "backlog_full" || res.Header.Get("Retry-After") != "60" {
		t.Errorf("push over the limit: %d %q Retry-After %q; want 503 backlog_full, 60 (no recent rate: a minute)",
			res.StatusCode, code, res.Header.Get("Retry-After"))
	}
	if ms, _ := st.Messages(ctx, 10, 0); len(ms) != 1 {
		t.Errorf("%d messages: the refused push was queued", len(ms))
	}

	res, ready := call("GET", "/readyz", "")
	checks, _ := ready["checks"].(map[string]any)
	ob, _ := checks["outbox"].(map[string]any)
	rb, _ := ob["backlog"].(map[string]any)
	if ob["ok"] != true || rb == nil || rb["depth"] != 3.0 || rb["over_capacity"] != true ||
		!strings.Contains(fmt.Sprint(ob["reason"]), "WXPUSH_MAX_BACKLOG") {
		t.Errorf("readyz outbox check %v", ob)
	}
}

func TestBacklog_OnTheDashboard(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	if r := admin.get("/admin"); !strings.Contains(r.Body, `id="backlog"`) || !strings.Contains(r.Body, "发送队列为空") {
		t.Errorf("dashboard without the queue line:\n%s", r.Body)
	}
}
