// Command wxpush lets a website's users bind their WeChat through an official
// account and lets admins and programs push messages to them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wxpush:", err)
		os.Exit(1)
	}
}

const usage = `wxpush — push WeChat messages to your website's users.

Usage:
  wxpush [serve] [-addr ADDR] [-db FILE] [-base-url URL] [-sandbox]
  wxpush user add NAME [-admin] [-db FILE]     (password read from stdin)
  wxpush migrate status [-db FILE]
  wxpush send (-to NAME[,NAME] | -all) (-text TEXT | -template ID -data key=value ...) [-url URL] [-wait]
  wxpush backup [-db FILE] [-force] DEST       (consistent copy while the server runs)
  wxpush version

Configuration comes from the environment and from ./.env (see README.md).
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	dotenv, err := loadDotEnv(".env")
	if err != nil {
		return err
	}
	env := lookupFunc(getenv, dotenv)
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isGlobalFlag(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, env, stdout, stderr)
	case "user":
		return runUser(ctx, args, env, stdin, stdout)
	case "migrate":
		return runMigrate(ctx, args, env, stdout)
	case "send":
		return runSend(ctx, args, env, stdout)
	case "backup":
		return runBackup(ctx, args, env, stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// isGlobalFlag: these flags are commands of their own, not serve's flags.
func isGlobalFlag(a string) bool {
	switch a {
	case "-version", "--version", "-h", "-help", "--help":
		return true
	}
	return false
}

func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "wxpush (unknown version)"
	}
	v := "wxpush " + bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified":
			v += " " + s.Key + "=" + s.Value
		}
	}
	return v + " " + bi.GoVersion
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("WXPUSH_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("WXPUSH_LOG_FORMAT=%q: want text or json", c.LogFormat)
}

func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := serveFlags(fs, env)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// Where this process itself can be reached (the sandbox's API, in
	// sandbox mode, is called over loopback).
	self := loopbackAddr(ln.Addr().(*net.TCPAddr))
	if c.BaseURL == "" {
		c.BaseURL = "http://" + self
	}
	base, _ := url.Parse(strings.TrimRight(c.BaseURL, "/"))

	// One HTTP client for all WeChat calls, with enough idle connections for
	// every outbox worker (the default keeps only 2 per host).
	httpClient := &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        2 * c.Workers,
			MaxIdleConnsPerHost: 2 * c.Workers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		},
	}
	srv := handlers.Server{
		Store:  st,
		Static: static.New(),
		Log:    log,
		Config: handlers.Config{
			BaseURL:     base,
			Sandbox:     c.Sandbox,
			BindTTL:     c.BindTTL,
			OAuthScope:  c.OAuthScope,
			FollowQRURL: c.FollowQRURL,
			WXToken:     c.Token,
			BindMode:    c.BindMode,
			AutoReply:   c.AutoReply,

			TrustedProxies:   c.TrustedProxies,
			APIRatePerSecond: c.APIRate,
			SendKeyPerMinute: c.SendKeyRate,
		},
	}
	appID, aesKey := c.AppID, c.AESKey
	if c.Sandbox {
		sb, client, app, err := newSandbox(ctx, st, c, base, self)
		if err != nil {
			return err
		}
		// After the HTTP server's shutdown, before the store closes.
		defer func() {
			if err := sb.Close(); err != nil {
				log.Error("sandbox: saving its state failed", "err", err)
			}
		}()
		srv.Sandbox, srv.WeChat = sb, client
		if srv.Config.WXToken == "" {
			srv.Config.WXToken = app.Token
		}
		appID, aesKey = app.AppID, app.AESKey
	} else {
		srv.WeChat = &wechat.Client{
			AppID:     c.AppID,
			AppSecret: c.AppSecret,
			APIBase:   wechat.DefaultAPIBase,
			OAuthBase: wechat.DefaultOAuthBase,
		}
	}
	srv.WeChat.HTTP = httpClient
	if aesKey != "" {
		if srv.Config.Crypter, err = wechat.NewCrypter(srv.Config.WXToken, aesKey, appID); err != nil {
			return fmt.Errorf("WX_ENCODING_AES_KEY: %w", err)
		}
	}
	srv.Tokens = wechat.NewTokenManager(srv.WeChat, wechat.TokenOptions{Cache: tokenCache{st}, Log: log})
	srv.Outbox = outbox.New(st, outbox.WeChatSender{Client: srv.WeChat, Tokens: srv.Tokens},
		outbox.Config{Workers: c.Workers, RatePerSecond: c.Rate, MaxAttempts: c.MaxAttempts}, log)
	srv.Sessions, err = handlers.NewCookieStore(ctx, st, base.Scheme == "https")
	if err != nil {
		return err
	}

	hs := &http.Server{
		Handler:           handlers.New(srv).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	// Background work starts once the server answers: in sandbox mode the
	// WeChat API it calls is this very server.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var bgDone sync.WaitGroup
	bgDone.Add(2)
	go func() { defer bgDone.Done(); srv.Tokens.Run(bg) }()
	go func() {
		defer bgDone.Done()
		if err := srv.Outbox.Run(bg); err != nil {
			log.Error("outbox stopped", "err", err)
		}
	}()
	bgDone.Add(1)
	go func() {
		defer bgDone.Done()
		st.RunRetention(bg, c.retention(), time.Hour, func(p store.Pruned, err error) {
			if err != nil {
				log.Error("retention: pruning failed", "err", err)
			} else if p != (store.Pruned{}) {
				log.Info("retention: pruned", "messages", p.Messages, "deliveries", p.Deliveries,
					"inbound_events", p.Inbound, "audit_entries", p.Audit)
			}
		})
	}()
	go func() {
		n, err := handlers.SyncTemplates(bg, st, srv.WeChat, srv.Tokens)
		if err != nil {
			log.Warn("template sync at start-up failed; use the dashboard's sync button later", "err", err)
			return
		}
		log.Info("templates synced", "count", n)
	}()

	mode := "WeChat app " + c.AppID
	if c.Sandbox {
		mode = "sandbox mode (built-in WeChat emulator at " + base.String() + "/sandbox/)"
	}
	fmt.Fprintf(stdout, "wxpush listening on %s — %s\n", base, mode)
	log.Info("listening", "addr", ln.Addr().String(), "base_url", base.String(), "sandbox", c.Sandbox, "db", c.DB)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Stop the outbox first (it drains in-flight sends, bounded), then the
	// HTTP server, which in sandbox mode those sends still need.
	stopBG()
	bgDone.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// loopbackAddr turns a wildcard listen address into one this process can dial.
func loopbackAddr(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// sandboxApp is the fake official account the sandbox plays, kept in the
// database so openids stay stable across restarts.
type sandboxApp struct {
	AppID  string `json:"app_id"`
	Secret string `json:"secret"`
	Token  string `json:"token"`
	AESKey string `json:"aes_key"`
}

// newSandbox starts the emulator as the app's official account. It pushes
// events to this server's /wechat in safe mode (the sandbox's own
// EncodingAESKey unless WX_ENCODING_AES_KEY is set), which the real test
// account cannot do. Its state is kept in the database, so a restart keeps
// its users bound; the caller closes it before the store.
func newSandbox(ctx context.Context, st *store.Store, c *config, base *url.URL, self string) (*sandbox.Sandbox, *wechat.Client, sandboxApp, error) {
	raw, err := st.EnsureSetting(ctx, "sandbox_app", func() []byte {
		b, _ := json.Marshal(sandboxApp{
			AppID:  "wxsandbox" + strings.ToLower(store.RandomToken(9)),
			Secret: store.RandomToken(32),
			Token:  store.RandomToken(32),
			AESKey: store.RandomToken(43),
		})
		return b
	})
	if err != nil {
		return nil, nil, sandboxApp{}, err
	}
	var app sandboxApp
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, nil, sandboxApp{}, fmt.Errorf("sandbox settings: %w", err)
	}
	if c.Token != "" {
		app.Token = c.Token
	}
	if c.AESKey != "" {
		app.AESKey = c.AESKey
	}
	sb, err := sandbox.New(sandbox.Options{
		AppID:          app.AppID,
		AppSecret:      app.Secret,
		TokenTTL:       c.SandboxTTL,
		PathPrefix:     "/sandbox",
		RedirectDomain: base.Host,
		ServerURL:      "http://" + self + "/wechat",
		ServerToken:    app.Token,
		EncodingAESKey: app.AESKey,
		Persistence:    st.SandboxState(),
		// Like a test account's own free-form template: what personal push
		// URLs (title + content) map onto out of the box.
		Templates: []sandbox.Template{{Title: "消息通知", Content: "标题：{{title.DATA}}\n内容：{{content.DATA}}"}},
	})
	if err != nil {
		return nil, nil, sandboxApp{}, err
	}
	client := &wechat.Client{
		AppID:     app.AppID,
		AppSecret: app.Secret,
		APIBase:   "http://" + self + "/sandbox",
		OAuthBase: base.String() + "/sandbox",
	}
	return sb, client, app, nil
}

func runUser(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: wxpush user add NAME [-admin] [-db FILE]  (password from stdin)")
	}
	args = args[1:]
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	admin := fs.Bool("admin", false, "make the user an admin")
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return errors.New("usage: wxpush user add NAME [-admin]  (password from stdin)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if msg := handlers.CheckSignup(name, password, password); msg != "" {
		return errors.New(msg)
	}
	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, name, password, *admin, false)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("user %q already exists", name)
	}
	if err != nil {
		return err
	}
	role := "user"
	if u.IsAdmin {
		role = "admin"
	}
	fmt.Fprintf(stdout, "created %s %q (id %s)\n", role, u.Name, u.PublicID)
	return nil
}

func runMigrate(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New("usage: wxpush migrate status [-db FILE]")
	}
	fs := flag.NewFlagSet("migrate status", flag.ContinueOnError)
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := store.OpenNoMigrate(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%05d  %-28s %s\n", m.Version, m.Name, state)
	}
	return nil
}

func defaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// tokenCache keeps the WeChat access token in the database, so a restart
// does not fetch (and pay quota for) a new one.
type tokenCache struct{ st *store.Store }

func (c tokenCache) LoadToken(ctx context.Context, appID string) (wechat.Token, error) {
	tok, exp, err := c.st.AccessToken(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return wechat.Token{}, wechat.ErrNoToken
	}
	if err != nil {
		return wechat.Token{}, err
	}
	return wechat.Token{AccessToken: tok, ExpiresAt: exp, ExpiresIn: int(time.Until(exp).Seconds())}, nil
}

func (c tokenCache) SaveToken(ctx context.Context, appID string, t wechat.Token) error {
	return c.st.SaveAccessToken(ctx, appID, t.AccessToken, t.ExpiresAt)
}
