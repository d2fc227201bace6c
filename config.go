package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/store"
)

// config is everything wxpush reads from the environment, a .env file and
// flags (in rising order of precedence).
type config struct {
	Addr        string
	DB          string
	BaseURL     string
	AppID       string
	AppSecret   string
	Token       string // WX_TOKEN: the server-URL token set in the WeChat console
	AESKey      string // WX_ENCODING_AES_KEY (safe mode; optional)
	TemplateID  string // WX_TEMPLATE_ID (optional default template)
	OAuthScope  string
	FollowQRURL string
	Sandbox     bool
	BindTTL     time.Duration
	SandboxTTL  time.Duration // access-token lifetime inside the sandbox
	LogLevel    string
	LogFormat   string
	BindMode    string  // auto, qrcode, oauth
	AutoReply   string  // passive reply to other text messages
	Workers     int     // outbox: sends in flight to start with and the minimum (0 until check picks the default)
	MaxInFlight int     // WXPUSH_MAX_INFLIGHT: ceiling of the outbox's adaptive in-flight sends
	Rate        float64 // outbox sends per second; 0 = unlimited
	MaxAttempts int     // attempts before a transient failure is final
	TZ          string  // WXPUSH_TZ: zone of the times pages show and the API returns ("" = Beijing time)
	Location    *time.Location
	MaxBacklog  int // WXPUSH_MAX_BACKLOG: queued deliveries past which programs' sends get 503; 0 = no limit

	TrustedProxies     []netip.Prefix // WXPUSH_TRUSTED_PROXIES
	APIRate            float64        // WXPUSH_API_RATE: API requests per second per token
	SendKeyRate        int            // WXPUSH_SENDKEY_RATE: pushes per minute per personal send key
	RetentionDays      int            // WXPUSH_RETENTION_DAYS: finished messages; 0 keeps them forever
	AuditRetentionDays int            // WXPUSH_AUDIT_RETENTION_DAYS: audit log; 0 keeps it forever

	WeChatProxy  *url.URL // WXPUSH_WECHAT_PROXY: the proxy for WeChat API calls only (app_proxy.go)
	MetricsToken string   // WXPUSH_METRICS_TOKEN: /metrics on the main address, behind this bearer token
	MetricsAddr  string   // WXPUSH_METRICS_ADDR: /metrics on a listener of its own, loopback clients only
}

// loadDotEnv reads KEY=VALUE lines from path. A missing file is not an
// error. Lines may start with "export "; values may be quoted; # starts a
// comment line.
func loadDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseDotEnv(f, path)
}

func parseDotEnv(r io.Reader, name string) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", name, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, sc.Err()
}

// lookupFunc layers the process environment over .env values.
func lookupFunc(getenv func(string) string, dotenv map[string]string) func(string) string {
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}
}

// serveFlags binds the serve command's flags, with defaults from env.
func serveFlags(fs *flag.FlagSet, env func(string) string) (*config, error) {
	c := &config{}
	var err error
	dur := func(key string, def time.Duration) time.Duration {
		v := env(key)
		if v == "" {
			return def
		}
		d, perr := time.ParseDuration(v)
		if perr != nil || d <= 0 {
			err = errors.Join(err, fmt.Errorf("%s=%q: want a positive duration such as 10m", key, v))
			return def
		}
		return d
	}
	def := func(key, d string) string {
		if v := env(key); v != "" {
			return v
		}
		return d
	}
	fs.StringVar(&c.Addr, "addr", def("WXPUSH_ADDR", "127.0.0.1:8080"), "listen address (WXPUSH_ADDR)")
	fs.StringVar(&c.DB, "db", def("WXPUSH_DB", "./wxpush.db"), "SQLite database file (WXPUSH_DB)")
	fs.StringVar(&c.BaseURL, "base-url", env("WXPUSH_BASE_URL"), "public URL of the site, used in the OAuth redirect_uri (WXPUSH_BASE_URL)")
	sandbox := false
	if v := env("WXPUSH_SANDBOX"); v != "" {
		var perr error
		if sandbox, perr = strconv.ParseBool(v); perr != nil {
			err = errors.Join(err, fmt.Errorf("WXPUSH_SANDBOX=%q: want 1 or 0", v))
		}
	}
	fs.BoolVar(&c.Sandbox, "sandbox", sandbox, "use the built-in WeChat sandbox, even when WX_APP_ID is set or the address is not loopback (WXPUSH_SANDBOX=1)")
	c.AppID = env("WX_APP_ID")
	c.AppSecret = env("WX_APP_SECRET")
	c.Token = env("WX_TOKEN")
	c.AESKey = env("WX_ENCODING_AES_KEY")
	c.TemplateID = env("WX_TEMPLATE_ID")
	c.FollowQRURL = env("WX_FOLLOW_QR_URL")
	c.OAuthScope = def("WX_OAUTH_SCOPE", "snsapi_userinfo")
	c.BindMode = def("WX_BIND_MODE", "auto")
	c.AutoReply = env("WX_AUTO_REPLY")
	c.LogLevel = def("WXPUSH_LOG_LEVEL", "info")
	c.LogFormat = def("WXPUSH_LOG_FORMAT", "text")
	c.TZ = env("WXPUSH_TZ")
	num := func(key string, def float64) float64 {
		v := env(key)
		if v == "" {
			return def
		}
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || f < 0 {
			err = errors.Join(err, fmt.Errorf("%s=%q: want a non-negative number", key, v))
			return def
		}
		return f
	}
	fs.IntVar(&c.Workers, "workers", int(num("WXPUSH_WORKERS", 0)), "sends in flight to start with and at least; the outbox adapts from there up to -max-inflight. 0 = 16 against WeChat, 2 against the sandbox (WXPUSH_WORKERS)")
	fs.IntVar(&c.MaxInFlight, "max-inflight", int(num("WXPUSH_MAX_INFLIGHT", 256)), "most sends in flight the outbox grows to while WeChat answers in time, 0 = 256 (WXPUSH_MAX_INFLIGHT)")
	fs.Float64Var(&c.Rate, "rate", num("WXPUSH_RATE", 0), "sends per second, 0 = unlimited (WXPUSH_RATE)")
	c.MaxAttempts = int(num("WXPUSH_MAX_ATTEMPTS", 6))
	if v := env("WXPUSH_MAX_BACKLOG"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			err = errors.Join(err, fmt.Errorf("WXPUSH_MAX_BACKLOG=%q: want a whole number of deliveries, 0 for no limit", v))
		} else {
			c.MaxBacklog = n
		}
	}
	c.APIRate = num("WXPUSH_API_RATE", 50)
	c.SendKeyRate = int(num("WXPUSH_SENDKEY_RATE", 30))
	c.BindTTL = dur("WXPUSH_BIND_TTL", 10*time.Minute)
	c.SandboxTTL = dur("WXPUSH_SANDBOX_TOKEN_TTL", 7200*time.Second)
	days := func(key string, def int) int {
		v := env(key)
		if v == "" {
			return def
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 100_000 {
			err = errors.Join(err, fmt.Errorf("%s=%q: want a whole number of days, 0 to keep forever", key, v))
			return def
		}
		return n
	}
	c.RetentionDays = days("WXPUSH_RETENTION_DAYS", 90)
	c.AuditRetentionDays = days("WXPUSH_AUDIT_RETENTION_DAYS", 365)
	if v := env("WXPUSH_WECHAT_PROXY"); v != "" {
		u, perr := url.Parse(v)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") || u.Host == "" {
			err = errors.Join(err, fmt.Errorf("WXPUSH_WECHAT_PROXY: want a proxy URL such as http://10.0.0.2:3128 or socks5://127.0.0.1:1080"))
		} else {
			c.WeChatProxy = u
		}
	}
	c.MetricsToken = env("WXPUSH_METRICS_TOKEN")
	c.MetricsAddr = env("WXPUSH_METRICS_ADDR")
	var perr error
	if c.TrustedProxies, perr = handlers.ParseTrustedProxies(env("WXPUSH_TRUSTED_PROXIES")); perr != nil {
		err = errors.Join(err, perr)
	}
	return c, err
}

// check validates the configuration once flags are parsed. Without
// WX_APP_ID the app runs against the sandbox; with it, every value real
// WeChat needs must be present.
func (c *config) check() error {
	intended := c.Sandbox // -sandbox or WXPUSH_SANDBOX=1
	if c.AppID == "" {
		c.Sandbox = true
	}
	if c.Sandbox && !intended && !loopbackAddress(c.Addr) {
		// Anyone who reaches the sandbox reads every simulated phone and
		// can inject faults; as the silent default it must stay local.
		return fmt.Errorf("refusing to start the sandbox (WX_APP_ID is not set) on %s, which is not a loopback address: "+
			"anyone who can reach it could read every simulated phone's messages and inject faults. "+
			"Listen on loopback (-addr 127.0.0.1:8080 or WXPUSH_ADDR), set WX_APP_ID and the other WeChat settings for real mode, "+
			"or pass -sandbox (WXPUSH_SANDBOX=1) if a sandbox reachable from other machines is intended", c.Addr)
	}
	if c.OAuthScope != "snsapi_userinfo" && c.OAuthScope != "snsapi_base" {
		return fmt.Errorf("WX_OAUTH_SCOPE=%q: want snsapi_userinfo or snsapi_base", c.OAuthScope)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("WXPUSH_BASE_URL=%q: want an absolute http(s) URL such as https://push.example.com", c.BaseURL)
		}
	}
	if c.TZ != "" {
		// time/tzdata is linked in (main.go): names resolve without the
		// system's zone files.
		loc, err := time.LoadLocation(c.TZ)
		if err != nil || c.TZ == "Local" {
			return fmt.Errorf("WXPUSH_TZ=%q: want a time zone name such as Asia/Shanghai, UTC or Europe/Berlin", c.TZ)
		}
		c.Location = loc
	}
	if c.BindMode != "auto" && c.BindMode != "qrcode" && c.BindMode != "oauth" {
		return fmt.Errorf("WX_BIND_MODE=%q: want auto, qrcode or oauth", c.BindMode)
	}
	if c.Workers < 0 || c.Workers > 1000 {
		return fmt.Errorf("WXPUSH_WORKERS=%d: want 1 to 1000, or 0 for the default", c.Workers)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 4096 {
		return fmt.Errorf("WXPUSH_MAX_INFLIGHT=%d: want 1 to 4096, or 0 for the default (256)", c.MaxInFlight)
	}
	if c.Workers > c.MaxInFlight {
		return fmt.Errorf("WXPUSH_WORKERS=%d is over WXPUSH_MAX_INFLIGHT=%d: the starting number of sends in flight cannot exceed the ceiling", c.Workers, c.MaxInFlight)
	}
	if c.Workers == 0 {
		// A send to WeChat is a network round trip, mostly waiting: 16 keep
		// that many in flight for little CPU. The built-in sandbox answers
		// in a fraction of a millisecond on our own cores: two sends at
		// once deliver as fast as 16 (about 4,000/s here), and the other
		// 14 only take CPU from accepting API calls (API push benchmark,
		// 64 clients: p99 27 ms at 16, 18 ms at 2; docs/benchmarks.md).
		c.Workers = min(16, c.MaxInFlight)
		if c.Sandbox {
			c.Workers = min(2, c.MaxInFlight)
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return fmt.Errorf("WXPUSH_METRICS_TOKEN is too short (%d characters): use 16 or more random characters", len(c.MetricsToken))
	}
	if c.AESKey != "" && len(c.AESKey) != 43 {
		return fmt.Errorf("WX_ENCODING_AES_KEY must be 43 characters (it has %d)", len(c.AESKey))
	}
	if c.Sandbox {
		return nil
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"WX_APP_SECRET", c.AppSecret},
		{"WX_TOKEN", c.Token},
		{"WXPUSH_BASE_URL", c.BaseURL},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("WX_APP_ID is set, so real WeChat mode needs %s (or unset WX_APP_ID to use the sandbox)", strings.Join(missing, ", "))
	}
	return nil
}

// loopbackAddress reports whether a listen address (host:port) is only
// reachable from this machine: localhost or a loopback IP. An empty host
// (":8080") or a wildcard listens on every interface; any other name is
// not known to be loopback. An address that does not parse is left for
// net.Listen to report.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// retention is what serve prunes, hourly: finished messages after
// WXPUSH_RETENTION_DAYS, WeChat's pushes after 7 days (they only serve to
// drop WeChat's retries), the audit log after WXPUSH_AUDIT_RETENTION_DAYS,
// webhook events 30 days after they were created (once delivered or given up).
func (c *config) retention() store.Retention {
	const day = 24 * time.Hour
	return store.Retention{
		Messages: time.Duration(c.RetentionDays) * day,
		Inbound:  7 * day,
		Audit:    time.Duration(c.AuditRetentionDays) * day,
		Webhooks: 30 * day,
	}
}
