package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/webhooks"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// connectProxy is an HTTP CONNECT proxy on loopback that records the
// hosts it tunnels to and refuses everything else.
type connectProxy struct {
	URL   *url.URL
	mu    sync.Mutex
	hosts []string // CONNECT targets
	other []string // requests that were not CONNECT
}

func newConnectProxy(t *testing.T) *connectProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{URL: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	if req.Method != http.MethodConnect {
		p.other = append(p.other, req.Method+" "+req.URL.String())
		p.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	p.hosts = append(p.hosts, req.Host)
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", req.Host, 5*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	<-done
}

func (p *connectProxy) seen() (hosts, other []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...), append([]string(nil), p.other...)
}

func TestWeChatProxy_WeChatCallsTunnelThroughItWebhooksDoNot(t *testing.T) {
	ctx := context.Background()
	const appID, secret = "wxproxytest001", "proxy-test-secret-0123456789"
	sb, err := sandbox.New(sandbox.Options{AppID: appID, AppSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	wx := httptest.NewTLSServer(sb) // WeChat is HTTPS: the proxy must tunnel
	defer wx.Close()
	proxy := newConnectProxy(t)

	env := map[string]string{"WXPUSH_WECHAT_PROXY": proxy.URL.String(), "WX_APP_ID": appID}
	fs := newFlagSet()
	c, err := serveFlags(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c.Workers = 2
	hc := weChatHTTP(c)
	roots := x509.NewCertPool()
	roots.AddCert(wx.Certificate())
	hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
	client := &wechat.Client{AppID: appID, AppSecret: secret, APIBase: wx.URL, OAuthBase: wx.URL, HTTP: hc}
	tokens := wechat.NewTokenManager(client, wechat.TokenOptions{})
	sender := outbox.WeChatSender{Client: client, Tokens: tokens}
	openid := sb.AddUser("alice").OpenID
	if _, err := sender.SendTemplate(ctx, wechat.TemplateMessage{ToUser: openid, TemplateID: sandbox.TemplateID(appID, "测试消息"),
		Data: map[string]string{"content": "经由代理"}}); err != nil {
		t.Fatalf("a template send through the proxy: %v", err)
	}
	wxHost := strings.TrimPrefix(wx.URL, "https://")
	hosts, other := proxy.seen()
	if len(hosts) == 0 || len(other) != 0 {
		t.Fatalf("proxy saw CONNECT %v and other requests %v", hosts, other)
	}
	for _, h := range hosts {
		if h != wxHost {
			t.Errorf("tunnelled to %s, want only WeChat (%s)", h, wxHost)
		}
	}
	if sb.Stats().TemplateSends != 1 {
		t.Fatalf("the sandbox delivered %d template messages", sb.Stats().TemplateSends)
	}

	// Webhooks go straight to the site's server, never through the WeChat proxy.
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := make(chan string, 1)
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get(webhooks.HeaderEvent) }))
	defer site.Close()
	if _, err := st.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: site.URL, Events: []string{store.EventUserMessage}}, "whsec_p"); err != nil {
		t.Fatal(err)
	}
	st.IngestInbound(ctx, store.Inbound{DedupKey: "m", OpenID: openid, MsgType: "text", Content: "hi", CreatedAt: time.Now()})
	// The client the app's webhook worker uses, trusting the site's test certificate.
	hookHTTP := webhooks.NewHTTPClient(10 * time.Second)
	siteRoots := x509.NewCertPool()
	siteRoots.AddCert(site.Certificate())
	hookHTTP.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: siteRoots}
	w := webhooks.New(st, webhooks.Config{HTTP: hookHTTP}, nil)
	if _, err := w.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev != store.EventUserMessage {
		t.Fatalf("webhook %q", ev)
	}
	if hosts2, _ := proxy.seen(); len(hosts2) != len(hosts) {
		t.Fatalf("the webhook went through the WeChat proxy: %v", hosts2[len(hosts):])
	}

	// Behind a whitelist, WeChat names the IP it saw: the proxy's side of
	// the tunnel, which the dashboard shows.
	sb.SetFaults(sandbox.Faults{IPWhitelist: "203.0.113.7"})
	tokens2 := wechat.NewTokenManager(client, wechat.TokenOptions{})
	if _, err := tokens2.Token(ctx); err == nil {
		t.Fatal("a token from a caller outside the whitelist")
	}
	if st := tokens2.Status(); st.LastErrCode != 40164 || st.EgressIP != "127.0.0.1" {
		t.Fatalf("status after 40164: %+v", st)
	}
}

func TestWeChatProxy_BadSettingIsRefused(t *testing.T) {
	for _, v := range []string{"proxy.example.com:3128", "ftp://proxy.example.com", "http://"} {
		_, err := serveFlags(newFlagSet(), func(k string) string {
			if k == "WXPUSH_WECHAT_PROXY" {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "WXPUSH_WECHAT_PROXY") {
			t.Errorf("%q: %v", v, err)
		}
	}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("serve", flag.ContinueOnError) }
