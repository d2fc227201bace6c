package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// With an EncodingAESKey configured a plaintext push is refused, however
// well signed: its signature does not cover the body, so a signed URL seen
// in a log would let anyone post any message (a binding, say) for as long
// as its timestamp is fresh.
func TestReceive_SafeModeRefusesPlaintext(t *testing.T) {
	app := newTestApp(t) // with an EncodingAESKey
	b := app.browser(t)
	b.signup("alice")
	token, _, err := app.Store.NewBindToken(t.Context(), mustUser(t, app, "alice").ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	forged := event("oMallory", "SCAN", "bind_"+token)
	tests := []struct {
		name  string
		tweak func(q url.Values)
	}{
		{"no encrypt_type", nil},
		{"encrypt_type=raw", func(q url.Values) { q.Set("encrypt_type", "raw") }},
		{"encrypt_type=AES", func(q url.Values) { q.Set("encrypt_type", "AES") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.pushRaw(t, forged.XML(), false, app.Clock.Now().Unix(), tt.tweak)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "encrypt_type=aes") || !strings.Contains(r.Body, "安全模式") {
				t.Fatalf("status %d, want 403 naming encrypt_type=aes and 安全模式\n%s", r.Status, r.Body)
			}
		})
	}
	if n := inboundCount(t, app); n != 0 {
		t.Errorf("%d plaintext pushes stored", n)
	}
	if _, err := app.Store.UserByOpenID(t.Context(), "oMallory"); err == nil {
		t.Fatal("a plaintext push bound an account")
	}
	if !strings.Contains(app.Logs.String(), "WX_ENCODING_AES_KEY") {
		t.Error("the refusal was not logged with what to change")
	}
	// The same push, encrypted as WeChat sends it in safe or compatible
	// mode, is taken.
	if reply := app.replyText(t, app.push(t, forged, true, 0), true); !strings.Contains(reply, "已绑定账号「alice」") {
		t.Errorf("encrypted push: reply %q", reply)
	}
	// Without a key, plaintext is how WeChat talks.
	plain := newTestApp(t, plainMode)
	if reply := plain.replyText(t, plain.push(t, text("oBob", "状态"), false, 0), false); !strings.Contains(reply, "还没有绑定") {
		t.Errorf("plaintext push without a key: reply %q", reply)
	}
}

// GET /wechat (the server-URL check) takes a timestamp no further than
// the push window (5 minutes) from now, as POST does.
func TestVerifyServerURL_TimestampWindow(t *testing.T) {
	app := newTestApp(t)
	now := app.Clock.Now().Unix()
	tests := []struct {
		name   string
		ts     string
		status int
	}{
		{"now", strconv.FormatInt(now, 10), 200},
		{"5 minutes ago", strconv.FormatInt(now-300, 10), 200},
		{"in 5 minutes", strconv.FormatInt(now+300, 10), 200},
		{"5 minutes and 1 s ago", strconv.FormatInt(now-301, 10), 403},
		{"in 5 minutes and 1 s", strconv.FormatInt(now+301, 10), 403},
		{"a year ago", strconv.FormatInt(now-365*86400, 10), 403},
		{"not a number", "soon", 403},
		{"missing", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"timestamp": {tt.ts}, "nonce": {"77"}, "signature": {wechat.Signature(testWXToken, tt.ts, "77")}, "echostr": {"e123"}}
			r := app.browser(t).get("/wechat?" + q.Encode())
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.Status, tt.status, r.Body)
			}
			if (r.Body == "e123") != (tt.status == 200) {
				t.Errorf("body %q", r.Body)
			}
		})
	}
	// The window is EventWindow's.
	wide := newTestApp(t, func(c *testConfig) { c.EventWindow = time.Hour })
	ts := strconv.FormatInt(wide.Clock.Now().Unix()-1800, 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature(testWXToken, ts, "1")}, "echostr": {"e"}}
	if r := wide.browser(t).get("/wechat?" + q.Encode()); r.Status != 200 {
		t.Errorf("30 minutes off with a 1-hour window: %d", r.Status)
	}
}
