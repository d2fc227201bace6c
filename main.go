// Command wxpush lets a website's users bind their WeChat through an official
// account and lets admins and programs push messages to them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // WXPUSH_TZ names resolve in static binaries and minimal images too

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
	unlock, err := store.LockServe(c.DB) // one server per database
	if err != nil {
		return err
	}
	defer unlock()
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	app, err := NewApp(ctx, c, log, stdout)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Run(ctx)
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
