package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The site answers only for the host of its base URL (and loopback names):
// a page whose own name resolves to this server (DNS rebinding) gets 421,
// so it cannot, for one, sign up the first account — the admin.
func TestHostCheck_OtherHostsGet421(t *testing.T) {
	publicSite := func(c *testConfig) { c.BaseURL, _ = url.Parse("https://push.example.com") }
	direct := newTestApp(t, publicSite)
	proxied := newTestApp(t, publicSite, behindProxy)
	_, port, _ := strings.Cut(strings.TrimPrefix(direct.URL, "http://"), ":")
	tests := []struct {
		name   string
		app    *testApp
		path   string
		host   string
		hdr    []string // more headers
		status int
	}{
		{"the base URL's host", direct, "/signup", "push.example.com", nil, 200},
		{"any case, port and a trailing dot", direct, "/signup", "PUSH.Example.com.:443", nil, 200},
		{"127.0.0.1", direct, "/signup", "127.0.0.1:" + port, nil, 200},
		{"localhost", direct, "/signup", "localhost:" + port, nil, 200},
		{"::1", direct, "/signup", "[::1]:" + port, nil, 200},
		{"a rebinding page", direct, "/signup", "evil.example:" + port, nil, 421},
		{"a name that ends like ours", direct, "/signup", "evilpush.example.com", nil, 421},
		{"a name that starts like ours", direct, "/signup", "push.example.com.evil.example", nil, 421},
		{"a LAN address", direct, "/signup", "192.168.1.5:" + port, nil, 421},
		{"static files too", direct, "/static/app.css", "evil.example", nil, 421},
		{"the sandbox too", direct, "/sandbox/", "evil.example", nil, 421},
		{"healthz answers any host", direct, "/healthz", "evil.example", nil, 200},
		{"X-Forwarded-Host from anyone is a claim", direct, "/signup", "evil.example", []string{"X-Forwarded-Host", "push.example.com"}, 421},
		{"and cannot refuse either", direct, "/signup", "push.example.com", []string{"X-Forwarded-Host", "evil.example"}, 200},
		{"a trusted proxy's X-Forwarded-Host counts", proxied, "/signup", "127.0.0.1:" + port, []string{"X-Forwarded-Host", "evil.example"}, 421},
		{"its last value", proxied, "/signup", "127.0.0.1:" + port, []string{"X-Forwarded-Host", "evil.example, push.example.com"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.app.URL+tt.path, nil)
			req.Host = tt.host
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			r := tt.app.browser(t).do(req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.Status, tt.status, r.Body)
			}
			if tt.status == 421 && (!strings.Contains(r.Body, "Misdirected Request") || !strings.Contains(r.Body, "不是本站的地址") ||
				!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain")) {
				t.Errorf("421 answer: %q %q", r.Header.Get("Content-Type"), r.Body)
			}
		})
	}
	// The rebinding page's sign-up: refused, no account (the first would
	// be the admin).
	form := url.Values{"name": {"mallory"}, "password": {"password-1"}, "password2": {"password-1"}}
	req, _ := http.NewRequest("POST", direct.URL+"/signup", strings.NewReader(form.Encode()))
	req.Host = "evil.example:" + port
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin") // to the browser, it is
	if r := direct.browser(t).do(req); r.Status != http.StatusMisdirectedRequest {
		t.Fatalf("sign-up from a rebinding page: %d, want 421", r.Status)
	}
	if n, _ := direct.Store.CountUsers(t.Context()); n != 0 {
		t.Errorf("%d accounts created", n)
	}
}
