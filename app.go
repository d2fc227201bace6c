package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/metrics"
	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/webhooks"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// App is the server `wxpush serve` runs: the store, the listener, the HTTP
// handler, the WeChat client and the background jobs, wired by NewApp,
// run by Run and released by Close.
type App struct {
	cfg    *config
	log    *slog.Logger
	stdout io.Writer

	store   *store.Store
	ln      net.Listener
	base    *url.URL
	http    *http.Server
	service *service.Service
	sandbox *sandbox.Sandbox // sandbox mode: saves its state on Close
	tokens  *wechat.TokenManager
	outbox  *outbox.Outbox
	hooks   *webhooks.Worker
	metrics *metrics.Metrics // nil unless configured (app_metrics.go)
	metLn   net.Listener     // WXPUSH_METRICS_ADDR's listener, or nil
}

// NewApp opens the database, listens and wires every part; nothing runs
// until Run. On error, what was opened is closed again.
func NewApp(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) (_ *App, err error) {
	a := &App{cfg: c, log: log, stdout: stdout}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.store, err = store.Open(ctx, c.DB); err != nil {
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, err
	}
	// Where this process itself can be reached (the sandbox's API, in
	// sandbox mode, is called over loopback).
	self := loopbackAddr(a.ln.Addr().(*net.TCPAddr))
	if c.BaseURL == "" {
		c.BaseURL = "http://" + self
	}
	a.base, _ = url.Parse(strings.TrimRight(c.BaseURL, "/"))

	srv := handlers.Server{
		Store:  a.store,
		Static: static.New(),
		Log:    log,
		Config: handlers.Config{
			BaseURL:          a.base,
			Sandbox:          c.Sandbox,
			FollowQRURL:      c.FollowQRURL,
			WXToken:          c.Token,
			TrustedProxies:   c.TrustedProxies,
			APIRatePerSecond: c.APIRate,
			SendKeyPerMinute: c.SendKeyRate,
			Location:         c.Location,
		},
	}
	var client *wechat.Client
	appID, aesKey := c.AppID, c.AESKey
	if c.Sandbox {
		sb, sbClient, app, err := newSandbox(ctx, a.store, c, a.base, self)
		if err != nil {
			return nil, err
		}
		a.sandbox, srv.Sandbox, client = sb, sb, sbClient
		srv.Config.InAppCookie = sandbox.InAppCookie
		if srv.Config.WXToken == "" {
			srv.Config.WXToken = app.Token
		}
		appID, aesKey = app.AppID, app.AESKey
	} else {
		client = &wechat.Client{
			AppID:     c.AppID,
			AppSecret: c.AppSecret,
			APIBase:   wechat.DefaultAPIBase,
			OAuthBase: wechat.DefaultOAuthBase,
		}
	}
	client.HTTP = weChatHTTP(c) // app_proxy.go: WXPUSH_WECHAT_PROXY
	if aesKey != "" {
		if srv.Config.Crypter, err = wechat.NewCrypter(srv.Config.WXToken, aesKey, appID); err != nil {
			return nil, fmt.Errorf("WX_ENCODING_AES_KEY: %w", err)
		}
	}
	a.tokens = wechat.NewTokenManager(client, wechat.TokenOptions{Cache: tokenCache{a.store}, Log: log, OnConflict: a.tokenConflict})
	var sender outbox.Sender = outbox.WeChatSender{Client: client, Tokens: a.tokens}
	var hookObs webhooks.Observer
	if err := a.setupMetrics(client); err != nil {
		return nil, err
	}
	if a.metrics != nil {
		sender, hookObs = a.metrics.Sender(sender), a.metrics
		srv.Metrics = a.metricsHandler()
	}
	a.outbox = outbox.New(a.store, sender,
		outbox.Config{Workers: c.Workers, MaxInFlight: c.MaxInFlight, RatePerSecond: c.Rate, MaxAttempts: c.MaxAttempts}, log)
	a.hooks = webhooks.New(a.store, webhooks.Config{Observer: hookObs}, log)
	a.store.SetWebhookNotify(a.hooks.Notify)
	a.service = service.New(service.Deps{Store: a.store, WeChat: client, Tokens: a.tokens, Outbox: a.outbox, Log: log},
		service.Config{BaseURL: a.base, BindTTL: c.BindTTL, BindMode: c.BindMode, OAuthScope: c.OAuthScope, AutoReply: c.AutoReply, MaxBacklog: c.MaxBacklog})
	srv.App, srv.Tokens = a.service, a.tokens
	srv.Sessions = handlers.NewSessionStore(a.store, a.base.Scheme == "https")
	a.http = &http.Server{
		Handler:           handlers.New(srv).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// job is a background task of the server; it runs until its context ends.
type job struct {
	name string
	run  func(ctx context.Context)
}

// jobs lists the background work in start order. Run stops them in
// reverse: the outbox drains its in-flight sends while the token manager
// still refreshes and — in sandbox mode — the HTTP server still answers
// the emulated WeChat API they call.
func (a *App) jobs() []job {
	return []job{
		{"tokens", a.tokens.Run},
		{"outbox", func(ctx context.Context) {
			if err := a.outbox.Run(ctx); err != nil {
				a.log.Error("outbox stopped", "err", err)
			}
		}},
		{"metrics listener", a.serveMetrics},
		{"webhooks", func(ctx context.Context) {
			if err := a.hooks.Run(ctx); err != nil {
				a.log.Error("webhooks stopped", "err", err)
			}
		}},
		{"retention", func(ctx context.Context) {
			a.store.RunRetention(ctx, a.cfg.retention(), time.Hour, func(p store.Pruned, err error) {
				if err != nil {
					a.log.Error("retention: pruning failed", "err", err)
				} else if p != (store.Pruned{}) {
					a.log.Info("retention: pruned", "messages", p.Messages, "deliveries", p.Deliveries,
						"inbound_events", p.Inbound, "audit_entries", p.Audit, "pending_receipts", p.PendingReceipts, "idempotency_keys", p.IdempotencyKeys,
						"sessions", p.Sessions, "bind_tokens", p.BindTokens, "webhook_events", p.Webhooks)
				}
			})
		}},
		{"template sync", func(ctx context.Context) {
			n, err := a.service.SyncTemplates(ctx, service.System)
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn("template sync at start-up failed; use the dashboard's sync button later", "err", err)
				}
				return
			}
			a.log.Info("templates synced", "count", n)
		}},
	}
}

// Run serves until ctx is done, then shuts down in order: background jobs
// in reverse start order, then the HTTP server (in-flight requests get
// 10 s). The HTTP server starts first: in sandbox mode the WeChat API the
// jobs call is this very server.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(a.ln) }()

	type running struct {
		name string
		stop context.CancelFunc
		done chan struct{}
	}
	var started []running
	for _, j := range a.jobs() {
		jctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); j.run(jctx) }()
		started = append(started, running{j.name, stop, done})
	}
	stopJobs := sync.OnceFunc(func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].stop()
			<-started[i].done
			a.log.Debug("stopped", "job", started[i].name)
		}
	})
	defer stopJobs()

	mode := "WeChat app " + a.cfg.AppID
	if a.cfg.Sandbox {
		mode = "sandbox mode (built-in WeChat emulator at " + a.base.String() + "/sandbox/)"
	}
	fmt.Fprintf(a.stdout, "wxpush listening on %s — %s\n", a.base, mode)
	a.log.Info("listening", "addr", a.ln.Addr().String(), "base_url", a.base.String(), "sandbox", a.cfg.Sandbox, "db", a.cfg.DB)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	stopJobs()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.http.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Close releases the listener and the database. Call it after Run returns.
func (a *App) Close() error {
	var errs []error
	if a.ln != nil {
		if err := a.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if a.metLn != nil {
		if err := a.metLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if a.sandbox != nil {
		// After the HTTP server's shutdown, before the store closes.
		if err := a.sandbox.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: saving its state: %w", err))
		}
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
