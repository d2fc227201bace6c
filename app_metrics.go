package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wxpush/wxpush/metrics"
	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/wechat"
)

// setupMetrics creates the metrics when WXPUSH_METRICS_TOKEN or
// WXPUSH_METRICS_ADDR asks for them (else nothing is counted), and
// instruments the WeChat client's transport and the store.
func (a *App) setupMetrics(client *wechat.Client) error {
	c := a.cfg
	if c.MetricsToken == "" && c.MetricsAddr == "" {
		return nil
	}
	a.metrics = metrics.New(metrics.Sources{Store: a.store, Tokens: a.tokens, Log: a.log, Paused: func() []outbox.Pause {
		if a.outbox == nil {
			return nil
		}
		return a.outbox.Paused()
	}})
	client.HTTP.Transport = a.metrics.Transport(client.HTTP.Transport)
	a.store.SetObserver(a.metrics)
	if c.MetricsAddr != "" {
		ln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("WXPUSH_METRICS_ADDR: %w", err)
		}
		a.metLn = ln
	}
	return nil
}

// metricsHandler is /metrics on the main address: only with a token.
func (a *App) metricsHandler() http.Handler {
	if a.cfg.MetricsToken == "" {
		return nil
	}
	return a.metrics.Handler(a.cfg.MetricsToken)
}

// serveMetrics serves /metrics on WXPUSH_METRICS_ADDR to loopback clients
// (with the token too, when one is set) until ctx ends.
func (a *App) serveMetrics(ctx context.Context) {
	if a.metLn == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.LoopbackOnly(a.metrics.Handler(a.cfg.MetricsToken)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	a.log.Info("metrics listening", "addr", a.metLn.Addr().String())
	if err := srv.Serve(a.metLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("metrics listener stopped", "err", err)
	}
}
