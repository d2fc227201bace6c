package main

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func postBody(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var xiaoMing = regexp.MustCompile(`data-openid="([^"]+)"><img[^>]*><span class="grow">小明<`)

// The sandbox pushes to /wechat in safe mode, with its own EncodingAESKey:
// its pushes are taken, and a plaintext push, however well signed, is not.
func TestRun_SandboxPushesInSafeModeAndPlaintextIsRefused(t *testing.T) {
	const token = "run-test-token"
	base := startApp(t, map[string]string{"WX_TOKEN": token})

	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "4242"
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(token, ts, nonce)}, "openid": {"oForged"}}
	res, err := http.Post(base+"/wechat?"+q.Encode(), "text/xml", strings.NewReader(
		"<xml><ToUserName>gh</ToUserName><FromUserName>oForged</FromUserName><CreateTime>"+ts+
			"</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "encrypt_type=aes") {
		t.Fatalf("signed plaintext push: %d %s, want 403", res.StatusCode, body)
	}

	// A simulated user writes 状态 to the account: the sandbox pushes the
	// message, encrypted, and shows the app's passive reply.
	if st, b := postBody(t, base+"/sandbox/users", url.Values{"nickname": {"小明"}}); st != 200 {
		t.Fatalf("add sandbox user: %d\n%s", st, b)
	}
	_, home := getBody(t, base+"/sandbox/")
	m := xiaoMing.FindStringSubmatch(home)
	if m == nil {
		t.Fatalf("no user on the sandbox home page:\n%s", home)
	}
	if !strings.Contains(home, `data-mode="safe"`) {
		t.Errorf("the sandbox does not push in safe mode:\n%s", home)
	}
	st, phone := postBody(t, base+"/sandbox/phone/"+url.PathEscape(m[1])+"/say", url.Values{"text": {"状态"}})
	if st != 200 || !strings.Contains(phone, "这个微信还没有绑定账号") {
		t.Fatalf("状态 in the sandbox phone: %d, want the app's reply\n%s", st, phone)
	}
}

// Sandbox mode is what runs when WX_APP_ID is unset; on an address other
// machines can reach it would show them every simulated inbox, so it
// starts there only when -sandbox or WXPUSH_SANDBOX=1 says so.
func TestRun_SandboxOnAPublicAddressNeedsToBeIntended(t *testing.T) {
	refused := []struct {
		name string
		addr string
	}{
		{"all IPv4 interfaces", "0.0.0.0:0"},
		{"all interfaces", ":0"},
		{"all IPv6 interfaces", "[::]:0"},
		{"a host name", "wxpush.internal:0"},
	}
	for _, tt := range refused {
		t.Run("refused on "+tt.name, func(t *testing.T) {
			env := map[string]string{"WXPUSH_DB": filepath.Join(t.TempDir(), "x.db")}
			// Should it start, it stops as soon as it says it listens.
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			err := run(ctx, []string{"-addr", tt.addr}, func(k string) string { return env[k] }, strings.NewReader(""),
				stopOnWrite(stop), io.Discard)
			if err == nil {
				t.Fatal("started the sandbox on a public address")
			}
			for _, want := range []string{"not a loopback address", "read every simulated phone", "-sandbox", "WXPUSH_SANDBOX=1", "WX_APP_ID", tt.addr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	started := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"-sandbox", nil, []string{"-addr", "0.0.0.0:0", "-sandbox"}},
		{"WXPUSH_SANDBOX=1", map[string]string{"WXPUSH_SANDBOX": "1"}, []string{"-addr", "0.0.0.0:0"}},
		{"localhost", nil, []string{"-addr", "localhost:0"}},
		{"IPv6 loopback", nil, []string{"-addr", "[::1]:0"}},
	}
	for _, tt := range started {
		t.Run("started with "+tt.name, func(t *testing.T) {
			if tt.name == "IPv6 loopback" {
				if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback here")
				} else {
					ln.Close()
				}
			}
			base := startApp(t, tt.env, tt.args...)
			if st, body := getBody(t, base+"/sandbox/"); st != 200 {
				t.Fatalf("GET /sandbox/: %d\n%s", st, body)
			}
		})
	}
	// Real WeChat mode may listen anywhere; a bad WXPUSH_SANDBOX is named.
	real := map[string]string{"WX_APP_ID": "wx1234567890abcdef", "WX_APP_SECRET": "s", "WX_TOKEN": "t",
		"WXPUSH_BASE_URL": "https://push.example.com", "WXPUSH_ADDR": "0.0.0.0:8080"}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c, err := serveFlags(fs, func(k string) string { return real[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(); err != nil || c.Sandbox {
		t.Errorf("real mode on 0.0.0.0: err %v, sandbox %v", err, c.Sandbox)
	}
	_, err = serveFlags(flag.NewFlagSet("serve", flag.ContinueOnError), func(k string) string {
		return map[string]string{"WXPUSH_SANDBOX": "maybe"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "WXPUSH_SANDBOX") {
		t.Errorf("WXPUSH_SANDBOX=maybe: err %v", err)
	}
}

// stopOnWrite is a writer that calls stop on its first write.
type stopOnWrite func()

func (f stopOnWrite) Write(p []byte) (int, error) { f(); return len(p), nil }

// Without WXPUSH_BASE_URL (a local sandbox on 127.0.0.1:8080) only
// loopback names are answered: a page that rebinds its own name to
// 127.0.0.1 gets 421 and cannot sign up the first account, the admin.
func TestRun_LocalInstallAnswersOnlyLoopbackNames(t *testing.T) {
	base := startApp(t, nil)
	_, port, _ := strings.Cut(strings.TrimPrefix(base, "http://"), ":")
	for host, want := range map[string]int{
		"127.0.0.1:" + port:      200,
		"localhost:" + port:      200,
		"rebind.example:" + port: http.StatusMisdirectedRequest,
	} {
		form := url.Values{"name": {"mallory"}, "password": {"password-1"}, "password2": {"password-1"}}
		req, _ := http.NewRequest("GET", base+"/signup", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET /signup for %s: %d, want %d", host, res.StatusCode, want)
		}
		if want != 200 {
			req, _ = http.NewRequest("POST", base+"/signup", strings.NewReader(form.Encode()))
			req.Host = host
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("POST /signup for %s: %d, want %d", host, res.StatusCode, want)
			}
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(base+"/login", url.Values{"name": {"mallory"}, "password": {"password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/login" {
		t.Errorf("login as the rebinding page's account: %d to %q, want 303 back to /login (no such account)", res.StatusCode, loc)
	}
}
