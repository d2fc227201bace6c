package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// BenchmarkBroadcast10k sends one template message to 10,000 bound users
// through the sandbox over loopback HTTP with 50 workers, and reports
// deliveries per second from the outbox's start until every delivery is
// final. With 20 ms per call the bound is 50 ÷ 0.020 s = 2,500/s; without
// added latency it measures our own overhead. The broadcast runs once
// whatever b.N is: run it with -benchtime=1x (docs/benchmarks.md).
func BenchmarkBroadcast10k(b *testing.B) {
	for _, bc := range []struct {
		name    string
		latency time.Duration
	}{
		{"latency20ms", 20 * time.Millisecond},
		{"nolatency", 0},
	} {
		b.Run(bc.name, func(b *testing.B) { benchBroadcast(b, bc.latency) })
	}
}

const (
	benchUsers   = 10_000
	benchWorkers = 50
)

func benchBroadcast(b *testing.B, latency time.Duration) {
	b.StopTimer()
	setupStart := time.Now()
	// The sandbox saves its state to the database, as in sandbox mode.
	h := newHarness(b, sandbox.Faults{}, benchUsers, persistSandbox)
	b.Logf("setup: %d bound users in %v", benchUsers, time.Since(setupStart).Round(time.Millisecond))
	// The users were bound long before, as in sandbox mode: their records
	// are saved.
	if err := h.sb.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	// Latency only for the broadcast: the setup's template sync is not measured.
	h.sb.SetFaults(sandbox.Faults{Latency: latency})
	ctx := context.Background()

	id, data := h.freeTemplate()
	enqStart := time.Now()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	enqueued := time.Since(enqStart)
	if m.Total != benchUsers {
		b.Fatalf("enqueued %d deliveries, want %d", m.Total, benchUsers)
	}

	// A cold token manager, as after a restart: the broadcast must fetch
	// exactly one token however many workers ask at once.
	tokens := wechat.NewTokenManager(h.client, wechat.TokenOptions{})
	o := outbox.New(h.st, outbox.WeChatSender{Client: h.client, Tokens: tokens},
		outbox.Config{Workers: benchWorkers, MaxInFlight: benchWorkers, BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second},
		slog.New(slog.DiscardHandler))
	fetchesBefore := h.sb.Stats().StableTokenFetches
	deliveredBefore := h.sb.TotalDelivered()

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	b.StartTimer()
	start, cpuStart := time.Now(), processCPU()
	go func() { done <- o.Run(runCtx) }()
	// The sandbox's counter is cheap to read; the store's counts are read
	// only once the sandbox has everything, to see the results recorded.
	// Sampling InFlight shows whether the workers ever wait for work.
	deadline := start.Add(5 * time.Minute)
	var samples, inflight int64
	for h.sb.TotalDelivered()-deliveredBefore < benchUsers && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
		samples++
		inflight += o.InFlight()
	}
	var got store.Message
	for {
		var err error
		if got, err = h.st.Message(ctx, m.ID); err != nil {
			b.Fatal(err)
		}
		if got.Counts.Pending() == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), processCPU()-cpuStart
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("outbox.Run: %v", err)
	}
	if got.Counts.Pending() != 0 {
		b.Fatalf("timed out: counts %+v", got.Counts)
	}

	fetches := h.sb.Stats().StableTokenFetches - fetchesBefore
	dups := h.sb.TotalDelivered() - deliveredBefore - benchUsers
	rate := float64(got.Counts.Sent) / elapsed.Seconds()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(elapsed.Seconds(), "s/broadcast")
	// CPU time of the whole process (outbox, store, sandbox): on a shared
	// machine it varies less than the wall time.
	b.ReportMetric(cpu.Seconds(), "cpu-s/broadcast")
	b.ReportMetric(enqueued.Seconds(), "s/enqueue")
	b.ReportMetric(float64(fetches), "token-fetches")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(inflight)/float64(max(samples, 1)), "avg-in-flight")
	if latency > 0 {
		bound := benchWorkers / latency.Seconds()
		b.ReportMetric(100*rate/bound, "%-of-bound")
	}
	b.ReportMetric(0, "ns/op") // one broadcast, not b.N operations

	if got.Counts.Sent != benchUsers || got.Counts.Failed != 0 {
		b.Errorf("counts %+v, want all %d sent", got.Counts, benchUsers)
	}
	if dups != 0 {
		b.Errorf("%d duplicate deliveries", dups)
	}
	if fetches != 1 {
		b.Errorf("%d token fetches, want exactly 1", fetches)
	}
	bad := 0
	for _, u := range h.users {
		if n := len(h.sb.Inbox(u.OpenID)); n != 1 {
			bad++
		}
	}
	if bad > 0 {
		b.Errorf("%d users do not have exactly one message", bad)
	}
	if b.Failed() {
		b.FailNow()
	}
}
