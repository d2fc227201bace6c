package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// BenchmarkAdaptiveConcurrency measures the AIMD in-flight limiter against
// the sandbox at a realistic 50 ms per call, over loopback HTTP:
//
//   - phase 1, no rate limit: deliveries/s once converged, and how long
//     from the start (16 in flight) until the delivery rate over the last
//     second first reached 90% of that;
//   - phase 2, the sandbox starts answering 45011 past BENCH_LIMIT calls
//     a second (default 400): how long until 45011 answers fall under 20%
//     of the limit (over the last 500 ms), and deliveries/s afterwards.
//
// It runs once whatever b.N is (-benchtime=1x). BENCH_CEILING sets
// MaxInFlight [256]. Command and figures: docs/benchmarks.md.
func BenchmarkAdaptiveConcurrency(b *testing.B) {
	const (
		users    = 1000
		messages = 60 // 60,000 deliveries: more than both phases send
		latency  = 50 * time.Millisecond
		phase1   = 8 * time.Second
		phase2   = 6 * time.Second
		tick     = 100 * time.Millisecond
	)
	limit := envInt("BENCH_LIMIT", 400)
	ceiling := envInt("BENCH_CEILING", 256)
	b.StopTimer()
	h := newHarness(b, sandbox.Faults{}, users)
	id, data := h.freeTemplate()
	for range messages {
		h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	}
	h.sb.SetFaults(sandbox.Faults{Latency: latency})
	// One pool sized to the ceiling, as the app builds it.
	client := *h.client
	client.HTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: ceiling + 16, MaxIdleConnsPerHost: ceiling + 16, MaxConnsPerHost: ceiling + 16}}
	tokens := wechat.NewTokenManager(&client, wechat.TokenOptions{})
	o := outbox.New(h.st, outbox.WeChatSender{Client: &client, Tokens: tokens},
		outbox.Config{Workers: 16, MaxInFlight: ceiling, BaseBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second},
		slog.New(slog.DiscardHandler))

	type sample struct {
		at                 time.Duration
		delivered, refused int
		limit, inflight    int
	}
	read := func(start time.Time) sample {
		return sample{at: time.Since(start), delivered: h.sb.TotalDelivered(), refused: h.sb.Stats().Errors[45011],
			limit: o.InFlightLimit(), inflight: int(o.InFlight())}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	go func() { done <- o.Run(ctx) }()
	var ss []sample
	faultAt := -1
	for time.Since(start) < phase1+phase2 {
		time.Sleep(tick)
		if faultAt < 0 && time.Since(start) >= phase1 {
			h.sb.SetFaults(sandbox.Faults{Latency: latency, PerSecondLimit: limit})
			faultAt = len(ss)
		}
		ss = append(ss, read(start))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	// rateOver: deliveries (or 45011s) per second over the n ticks up to i.
	rateOver := func(i, n int, f func(sample) int) float64 {
		j := max(0, i-n)
		return float64(f(ss[i])-f(ss[j])) / (ss[i].at - ss[j].at).Seconds()
	}
	deliv := func(s sample) int { return s.delivered }
	refused := func(s sample) int { return s.refused }
	// Phase 1: steady rate over its last 3 s; convergence.
	end1 := faultAt - 1
	steady := rateOver(end1, 30, deliv)
	converge := -1.0
	for i := 10; i <= end1; i++ {
		if rateOver(i, 10, deliv) >= 0.9*steady {
			converge = ss[i].at.Seconds()
			break
		}
	}
	peakLimit := 0
	for _, s := range ss[:faultAt] {
		peakLimit = max(peakLimit, s.limit)
	}
	// Phase 2: back-off time; rate afterwards.
	backoff := -1.0
	for i := faultAt + 5; i < len(ss); i++ {
		if rateOver(i, 5, refused) < 0.2*float64(limit) {
			backoff = (ss[i].at - ss[faultAt].at).Seconds()
			break
		}
	}
	last := len(ss) - 1
	after := rateOver(last, 30, deliv)
	for i, s := range ss {
		if i%5 == 4 {
			b.Logf("t=%5.1fs limit=%3d inflight=%3d delivered/s=%6.0f 45011/s=%5.0f", s.at.Seconds(), s.limit, s.inflight,
				rateOver(i, 5, deliv), rateOver(i, 5, refused))
		}
	}
	b.ReportMetric(steady, "deliveries/s")
	b.ReportMetric(converge, "s-to-converge")
	b.ReportMetric(float64(peakLimit), "peak-in-flight-limit")
	b.ReportMetric(backoff, "s-to-back-off")
	b.ReportMetric(after, "deliveries/s-under-limit")
	b.ReportMetric(float64(ss[last].limit), "in-flight-limit-under-limit")
	b.ReportMetric(0, "ns/op")
	if converge < 0 || backoff < 0 {
		b.Errorf("did not converge (%v s) or back off (%v s)", converge, backoff)
	}
	_ = fmt.Sprint
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
		return n
	}
	return def
}
