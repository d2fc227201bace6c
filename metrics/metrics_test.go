package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wxpush/wxpush/metrics"
	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/webhooks"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

const (
	appID     = "wxmetricstest1"
	appSecret = "metrics-test-secret-0123456789"
	token     = "metrics-token-0123456789"
)

// scrape fetches /metrics as Prometheus does and parses the text format.
func scrape(t *testing.T, url, auth string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return 200, fams
}

// value is the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics_ScrapedAfterRealSendsPushesAndWebhooks(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sb, err := sandbox.New(sandbox.Options{AppID: appID, AppSecret: appSecret})
	if err != nil {
		t.Fatal(err)
	}
	wx := httptest.NewServer(sb)
	defer wx.Close()
	client := &wechat.Client{AppID: appID, AppSecret: appSecret, APIBase: wx.URL, OAuthBase: wx.URL, HTTP: &http.Client{}}
	tokens := wechat.NewTokenManager(client, wechat.TokenOptions{})
	var ob *outbox.Outbox
	m := metrics.New(metrics.Sources{Store: st, Tokens: tokens, Paused: func() []outbox.Pause { return ob.Paused() }})
	client.HTTP.Transport = m.Transport(nil)
	st.SetObserver(m)
	ob = outbox.New(st, m.Sender(outbox.WeChatSender{Client: client, Tokens: tokens}),
		outbox.Config{Workers: 2, PollInterval: 10 * time.Millisecond}, nil)

	follower := sb.AddUser("alice").OpenID
	if _, err := st.IngestInbound(ctx, store.Inbound{DedupKey: "f", OpenID: follower, MsgType: "event", Event: "subscribe", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// One template message that arrives, one text to an openid WeChat does not know (40003).
	if _, err := st.EnqueueMessage(ctx, store.Message{Kind: store.KindTemplate, TemplateID: sandbox.TemplateID(appID, "测试消息"),
		Data: map[string]string{"content": "部署完成"}, Source: "api"}, []store.Recipient{{OpenID: follower}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "api"},
		[]store.Recipient{{OpenID: "oNobody0000000000000000000"}}); err != nil {
		t.Fatal(err)
	}
	octx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(octx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pending, _, _ := st.DeliveryTotalsSince(ctx, 1); pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deliveries did not finish")
		}
	}
	stop()
	<-done

	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer hook.Close()
	if _, err := st.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: hook.URL, Events: []string{store.EventUserMessage}}, "whsec_m"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IngestInbound(ctx, store.Inbound{DedupKey: "m", OpenID: follower, MsgType: "text", Content: "在吗", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := webhooks.New(st, webhooks.Config{Observer: m}, nil).DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	m.TokenConflict()

	srv := httptest.NewServer(m.Handler(token))
	defer srv.Close()
	for _, auth := range []string{"", "Bearer wrong-token-000000000", token} {
		if code, _ := scrape(t, srv.URL, auth); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, code)
		}
	}
	code, fams := scrape(t, srv.URL, "Bearer "+token)
	if code != 200 {
		t.Fatalf("scrape: %d", code)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wxpush_deliveries_total", map[string]string{"kind": "template", "state": "sent"}, 1},
		{"wxpush_deliveries_total", map[string]string{"kind": "text", "state": "failed"}, 1},
		{"wxpush_wechat_calls_total", map[string]string{"api": "/cgi-bin/message/template/send", "errcode": "0"}, 1},
		{"wxpush_wechat_calls_total", map[string]string{"api": "/cgi-bin/message/custom/send", "errcode": "40003"}, 1},
		{"wxpush_wechat_calls_total", map[string]string{"api": "/cgi-bin/stable_token", "errcode": "0"}, 1},
		{"wxpush_send_duration_seconds", map[string]string{"kind": "template"}, 1},
		{"wxpush_send_duration_seconds", map[string]string{"kind": "text"}, 1},
		{"wxpush_outbox_queue_depth", map[string]string{"kind": "template"}, 0},
		{"wxpush_outbox_oldest_queued_seconds", map[string]string{"kind": "text"}, 0},
		{"wxpush_outbox_paused", map[string]string{"kind": "template"}, 0},
		{"wxpush_token_fetches_total", nil, 1},
		{"wxpush_wechat_events_received_total", map[string]string{"type": "event:subscribe"}, 1},
		{"wxpush_wechat_events_received_total", map[string]string{"type": "text"}, 1},
		{"wxpush_webhook_deliveries_total", map[string]string{"outcome": "disabled"}, 1},
		{"wxpush_webhook_queue_depth", nil, 1}, // the 410 left it waiting for a re-enable
		{"wxpush_token_conflicts_total", nil, 1},
	} {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v\n%v", c.name, c.labels, got, ok, c.want, fams[c.name])
		}
	}
}

func TestLoopbackOnly_RefusesOtherPeers(t *testing.T) {
	h := metrics.LoopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for addr, want := range map[string]int{"127.0.0.1:5000": 200, "[::1]:5000": 200, "203.0.113.9:5000": 403, "garbage": 403} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = addr
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("peer %s: %d, want %d", addr, rec.Code, want)
		}
	}
}
