package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startApp runs the real program (run) on a free loopback port with a fresh
// database and returns its base URL. The server stops when the test ends.
func startApp(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	base, _ := startStoppableApp(t, env, args...)
	return base
}

// startStoppableApp is startApp that also returns a function stopping the
// server as SIGTERM does (and checking that run returned nil), for tests
// that restart it; it still stops when the test ends.
func startStoppableApp(t testing.TB, env map[string]string, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	getenv := func(k string) string { return env[k] }
	if env["WXPUSH_DB"] == "" {
		if env == nil {
			env = map[string]string{}
		}
		env["WXPUSH_DB"] = filepath.Join(t.TempDir(), "wxpush.db")
	}
	if env["WXPUSH_LOG_LEVEL"] == "" {
		env["WXPUSH_LOG_LEVEL"] = "warn"
	}
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...), getenv, strings.NewReader(""), pw, stderr)
		pw.Close()
	}()
	var once sync.Once
	stop := func() { once.Do(func() { stopApp(t, cancel, done, stderr) }) }
	t.Cleanup(stop)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "wxpush listening on ") {
				lines <- l
			}
		}
	}()
	select {
	case l := <-lines:
		f := strings.Fields(strings.TrimPrefix(l, "wxpush listening on "))
		return f[0], stop
	case err := <-done:
		done <- err // for stop
		t.Fatalf("run exited before listening: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start\n%s", stderr)
	}
	return "", stop
}

func stopApp(t testing.TB, cancel func(), done chan error, stderr *syncBuffer) {
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if t.Failed() {
		// The server's own log explains most failures.
		log := stderr.String()
		if len(log) > 8000 {
			log = "…" + log[len(log)-8000:]
		}
		t.Logf("server log:\n%s", log)
	}
}

func TestRun_ServesSandboxModeWithoutConfiguration(t *testing.T) {
	base := startApp(t, nil)
	res, err := http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "沙箱模式") {
		t.Fatalf("GET /login: %d\n%s", res.StatusCode, body)
	}
	res, err = http.Get(base + "/sandbox/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /sandbox/: %d", res.StatusCode)
	}
}

func TestRun_RealModeNamesMissingVariables(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"WX_APP_ID": "wx123", "WXPUSH_DB": filepath.Join(t.TempDir(), "x.db")}
	err := run(t.Context(), nil, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	if err == nil {
		t.Fatal("started without WX_APP_SECRET")
	}
	for _, v := range []string{"WX_APP_SECRET", "WX_TOKEN", "WXPUSH_BASE_URL"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
}

func TestRun_BadConfigValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad base url", map[string]string{"WXPUSH_BASE_URL": "push.example.com"}, "WXPUSH_BASE_URL"},
		{"bad ttl", map[string]string{"WXPUSH_BIND_TTL": "ten minutes"}, "WXPUSH_BIND_TTL"},
		{"bad scope", map[string]string{"WX_OAUTH_SCOPE": "snsapi_login"}, "WX_OAUTH_SCOPE"},
		{"bad aes key", map[string]string{"WX_ENCODING_AES_KEY": "short"}, "43 characters"},
		{"bad log level", map[string]string{"WXPUSH_LOG_LEVEL": "loud"}, "WXPUSH_LOG_LEVEL"},
		{"bad workers", map[string]string{"WXPUSH_WORKERS": "1001"}, "WXPUSH_WORKERS"},
		{"negative workers", map[string]string{"WXPUSH_WORKERS": "-3"}, "WXPUSH_WORKERS"},
		{"unknown time zone", map[string]string{"WXPUSH_TZ": "Mars/Olympus"}, "WXPUSH_TZ"},
		{"the machine's zone", map[string]string{"WXPUSH_TZ": "Local"}, "WXPUSH_TZ"},
		{"workers over the ceiling", map[string]string{"WXPUSH_WORKERS": "40", "WXPUSH_MAX_INFLIGHT": "32"}, "WXPUSH_MAX_INFLIGHT"},
		{"ceiling too high", map[string]string{"WXPUSH_MAX_INFLIGHT": "5000"}, "WXPUSH_MAX_INFLIGHT"},
		{"bad max backlog", map[string]string{"WXPUSH_MAX_BACKLOG": "lots"}, "WXPUSH_MAX_BACKLOG"},
		{"negative max backlog", map[string]string{"WXPUSH_MAX_BACKLOG": "-1"}, "WXPUSH_MAX_BACKLOG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["WXPUSH_DB"] = filepath.Join(t.TempDir(), "x.db")
			err := run(t.Context(), []string{"-addr", "127.0.0.1:0"}, func(k string) string { return tt.env[k] }, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestRun_UserAddAndMigrateStatus(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wxpush.db")
	env := func(k string) string {
		if k == "WXPUSH_DB" {
			return db
		}
		return ""
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"user", "add", "root", "-admin"}, env, strings.NewReader("a-good-password\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `created admin "root"`) {
		t.Errorf("output %q", out.String())
	}
	err := run(t.Context(), []string{"user", "add", "root"}, env, strings.NewReader("another-password\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate user: err = %v", err)
	}
	err = run(t.Context(), []string{"user", "add", "bob"}, env, strings.NewReader("short\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "8") {
		t.Errorf("short password: err = %v", err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"migrate", "status"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "00001_accounts.sql") || !strings.Contains(out.String(), "applied") {
		t.Errorf("migrate status:\n%s", out.String())
	}
}

func TestParseDotEnv(t *testing.T) {
	env, err := parseDotEnv(strings.NewReader("# comment\nexport A=1\nB = \"two words\"\nC='x'\n\n"), ".env")
	if err != nil {
		t.Fatal(err)
	}
	if env["A"] != "1" || env["B"] != "two words" || env["C"] != "x" {
		t.Errorf("env = %v", env)
	}
	if _, err := parseDotEnv(strings.NewReader("NOVALUE\n"), ".env"); err == nil || !strings.Contains(err.Error(), ".env:1") {
		t.Errorf("bad line: err = %v", err)
	}
}

func TestConfig_WorkersDefaultFollowsTheEndpoint(t *testing.T) {
	real := map[string]string{"WX_APP_ID": "wx1234567890abcdef", "WX_APP_SECRET": "s", "WX_TOKEN": "t",
		"WXPUSH_BASE_URL": "https://push.example.com"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"sandbox", map[string]string{}, nil, 2},
		{"sandbox flag", real, []string{"-sandbox"}, 2},
		{"real WeChat", real, nil, 16},
		{"set", map[string]string{"WXPUSH_WORKERS": "5"}, nil, 5},
		{"flag", real, []string{"-workers", "40"}, 40},
		{"a ceiling under the default", map[string]string{"WX_APP_ID": real["WX_APP_ID"], "WX_APP_SECRET": "s", "WX_TOKEN": "t",
			"WXPUSH_BASE_URL": "https://push.example.com", "WXPUSH_MAX_INFLIGHT": "8"}, nil, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			c, err := serveFlags(fs, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
			if c.Workers != tt.want {
				t.Errorf("workers = %d, want %d", c.Workers, tt.want)
			}
		})
	}
}
