// Package metrics exposes wxpush's Prometheus metrics (docs/deploy.md,
// "Metrics"): deliveries, WeChat calls, send latency, the outbox's
// backlog and pauses, token fetches and conflicts, webhooks and the pushes
// WeChat sends. It is off unless configured (WXPUSH_METRICS_TOKEN or
// WXPUSH_METRICS_ADDR); nothing is counted then.
package metrics

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Sources are what the metrics read at scrape time. Every field is optional.
type Sources struct {
	Store  *store.Store
	Tokens *wechat.TokenManager
	Paused func() []outbox.Pause
	Log    *slog.Logger
	Now    func() time.Time
}

// Metrics holds wxpush's collectors in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry
	src Sources

	deliveries     *prometheus.CounterVec
	receipts       *prometheus.CounterVec
	wechatCalls    *prometheus.CounterVec
	sendLatency    *prometheus.HistogramVec
	webhooks       *prometheus.CounterVec
	webhookLatency prometheus.Histogram
	events         *prometheus.CounterVec
	conflicts      prometheus.Counter
}

// New registers every metric.
func New(src Sources) *Metrics {
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), src: src}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxpush_deliveries_total", Help: "Deliveries that reached a final state, by message kind and state (sent, failed, unknown).",
	}, []string{"kind", "state"})
	m.receipts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxpush_delivery_receipts_total", Help: "WeChat's delivery receipts (TEMPLATESENDJOBFINISH) by kind and result (delivered, blocked, sysfailed).",
	}, []string{"kind", "receipt"})
	m.wechatCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxpush_wechat_calls_total", Help: "Calls to WeChat's API by path and errcode (0 success; http_NNN without JSON; transport for no answer).",
	}, []string{"api", "errcode"})
	m.sendLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "wxpush_send_duration_seconds", Help: "Time of one send attempt to WeChat, token included, by message kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
	}, []string{"kind"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxpush_webhook_deliveries_total", Help: "Webhook attempts by outcome (succeeded, retrying, failed, disabled).",
	}, []string{"outcome"})
	m.webhookLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wxpush_webhook_duration_seconds", Help: "Time of one webhook request.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxpush_wechat_events_received_total", Help: "Pushes from WeChat recorded (retries excluded), by type: the MsgType, or event:<Event>.",
	}, []string{"type"})
	m.conflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wxpush_token_conflicts_total", Help: "Signs that another system uses the same AppSecret to get access tokens.",
	})
	m.reg.MustRegister(m.deliveries, m.receipts, m.wechatCalls, m.sendLatency, m.webhooks, m.webhookLatency, m.events, m.conflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &scrape{m})
	if src.Tokens != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wxpush_token_fetches_total", Help: "stable_token calls made to get the access token, failed ones included.",
		}, func() float64 { return float64(src.Tokens.Status().Fetches) }))
	}
	return m
}

// Registry is the registry the metrics are in (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format. With a non-empty
// token, a request must carry Authorization: Bearer <token>.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.src.Log.Handler(), slog.LevelWarn)})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxpush metrics"`)
			http.Error(w, "401 unauthorized: send Authorization: Bearer <WXPUSH_METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// LoopbackOnly refuses every peer but a loopback address, whatever the
// forwarding headers say: for the metrics listener (WXPUSH_METRICS_ADDR).
func LoopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "403 forbidden: metrics are served to loopback clients only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// DeliveryFinished implements store.Observer.
func (m *Metrics) DeliveryFinished(kind, state string) {
	m.deliveries.WithLabelValues(kind, state).Inc()
}

// DeliveryReceipt implements store.Observer.
func (m *Metrics) DeliveryReceipt(kind, receipt string) {
	m.receipts.WithLabelValues(kind, receipt).Inc()
}

// InboundRecorded implements store.Observer.
func (m *Metrics) InboundRecorded(msgType, event string) {
	t := msgType
	if msgType == "event" {
		t = "event:" + event
	}
	m.events.WithLabelValues(t).Inc()
}

// WebhookAttempt implements webhooks.Observer.
func (m *Metrics) WebhookAttempt(outcome string, _ int, latency time.Duration) {
	m.webhooks.WithLabelValues(outcome).Inc()
	if latency > 0 {
		m.webhookLatency.Observe(latency.Seconds())
	}
}

// TokenConflict counts one sign of an AppSecret conflict.
func (m *Metrics) TokenConflict() { m.conflicts.Inc() }

// Sender wraps the outbox's sender to time each send.
func (m *Metrics) Sender(next outbox.Sender) outbox.Sender { return &timedSender{next: next, m: m} }

type timedSender struct {
	next outbox.Sender
	m    *Metrics
}

func (t *timedSender) SendTemplate(ctx context.Context, msg wechat.TemplateMessage) (int64, error) {
	defer t.observe(store.KindTemplate, time.Now())
	return t.next.SendTemplate(ctx, msg)
}

func (t *timedSender) SendText(ctx context.Context, openid, content string) error {
	defer t.observe(store.KindText, time.Now())
	return t.next.SendText(ctx, openid, content)
}

func (t *timedSender) observe(kind string, start time.Time) {
	t.m.sendLatency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// Transport wraps the WeChat client's transport to count calls by API and
// errcode. It reads WeChat's small JSON answers (at most 1 MB here) and
// hands the same bytes on.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		api := apiPath(r.URL.Path)
		resp, err := next.RoundTrip(r)
		if err != nil {
			m.wechatCalls.WithLabelValues(api, "transport").Inc()
			return resp, err
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			m.wechatCalls.WithLabelValues(api, "http_"+strconv.Itoa(resp.StatusCode)).Inc()
			return resp, nil
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		code := "0"
		var head struct {
			ErrCode *json.Number `json:"errcode"`
		}
		if rerr != nil {
			code = "transport"
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		} else if json.Unmarshal(body, &head) == nil && head.ErrCode != nil {
			code = head.ErrCode.String()
		}
		m.wechatCalls.WithLabelValues(api, code).Inc()
		return resp, nil
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// apiPath is the WeChat API a URL path names, without a base's prefix
// (the sandbox is mounted under /sandbox), so that labels stay few.
func apiPath(p string) string {
	for _, root := range []string{"/cgi-bin/", "/sns/"} {
		if i := strings.Index(p, root); i >= 0 {
			return p[i:]
		}
	}
	return "other"
}

// scrape is the collector of what is read when Prometheus scrapes: the
// outbox's backlog and pauses, the webhook queue.
type scrape struct{ m *Metrics }

var (
	queueDepth = prometheus.NewDesc("wxpush_outbox_queue_depth",
		"Deliveries queued or waiting to retry, by message kind.", []string{"kind"}, nil)
	queueOldest = prometheus.NewDesc("wxpush_outbox_oldest_queued_seconds",
		"Age of the oldest delivery queued or waiting to retry, by message kind.", []string{"kind"}, nil)
	paused = prometheus.NewDesc("wxpush_outbox_paused",
		"1 while WeChat's daily quota (45009) pauses sending of the message kind.", []string{"kind"}, nil)
	webhookPending = prometheus.NewDesc("wxpush_webhook_queue_depth", "Webhook deliveries waiting.", nil, nil)
	webhookOldest  = prometheus.NewDesc("wxpush_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery waiting.", nil, nil)
)

func (c *scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueDepth, queueOldest, paused, webhookPending, webhookOldest} {
		ch <- d
	}
}

func (c *scrape) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src
	now := src.Now()
	if src.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stats, err := src.Store.QueueStats(ctx, now)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(queueDepth, err)
		}
		byKind := map[string]store.QueueStat{}
		for _, q := range stats {
			byKind[q.Kind] = q
		}
		for _, k := range []string{store.KindTemplate, store.KindText} {
			q := byKind[k]
			ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(q.Depth), k)
			ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, q.Oldest.Seconds(), k)
		}
		n, oldest, err := src.Store.WebhookQueue(ctx, now)
		if err != nil && !errors.Is(err, context.Canceled) {
			ch <- prometheus.NewInvalidMetric(webhookPending, err)
		} else {
			ch <- prometheus.MustNewConstMetric(webhookPending, prometheus.GaugeValue, float64(n))
			ch <- prometheus.MustNewConstMetric(webhookOldest, prometheus.GaugeValue, oldest.Seconds())
		}
	}
	if src.Paused != nil {
		on := map[string]bool{}
		for _, p := range src.Paused() {
			on[p.Kind] = true
		}
		for _, k := range []string{store.KindTemplate, store.KindText} {
			v := 0.0
			if on[k] {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(paused, prometheus.GaugeValue, v, k)
		}
	}
}
