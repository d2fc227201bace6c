package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

var nonceSeq atomic.Int64

// push plays WeChat's server: it POSTs m to /wechat, signed, in plain or
// safe mode, with the given timestamp (0: now).
func (a *testApp) push(t *testing.T, m wechat.Inbound, safe bool, ts int64) resp {
	t.Helper()
	if ts == 0 {
		ts = a.Clock.Now().Unix()
	}
	body := m.XML()
	return a.pushRaw(t, body, safe, ts, nil)
}

func (a *testApp) pushRaw(t *testing.T, body []byte, safe bool, ts int64, tweak func(q url.Values)) resp {
	t.Helper()
	tss := strconv.FormatInt(ts, 10)
	nonce := strconv.FormatInt(1000+nonceSeq.Add(1), 10)
	q := url.Values{"timestamp": {tss}, "nonce": {nonce}, "signature": {wechat.Signature(testWXToken, tss, nonce)}, "openid": {"x"}}
	if safe {
		enc, err := a.Crypter.Encrypt(body)
		if err != nil {
			t.Fatal(err)
		}
		body = []byte("<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", a.Crypter.Sign(tss, nonce, enc))
	}
	if tweak != nil {
		tweak(q)
	}
	res, err := http.Post(a.URL+"/wechat?"+q.Encode(), "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return resp{res.StatusCode, res.Header, b.String()}
}

func (a *testApp) replyText(t *testing.T, r resp, safe bool) string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("push answered %d: %s", r.Status, r.Body)
	}
	if r.Body == "success" {
		return ""
	}
	body := []byte(r.Body)
	if safe {
		var err error
		if body, err = a.Crypter.DecryptReply(body); err != nil {
			t.Fatalf("encrypted reply: %v\n%s", err, r.Body)
		}
	}
	rep, err := wechat.ParseReply(body)
	if err != nil {
		t.Fatalf("reply: %v\n%s", err, body)
	}
	return rep.Content
}

var createSeq atomic.Int64

func event(openid, ev, key string) wechat.Inbound {
	return wechat.Inbound{ToUserName: "gh_test", FromUserName: openid, CreateTime: time.Now().Unix() + createSeq.Add(1),
		MsgType: "event", Event: ev, EventKey: key}
}

func text(openid, content string) wechat.Inbound {
	n := createSeq.Add(1)
	return wechat.Inbound{ToUserName: "gh_test", FromUserName: openid, CreateTime: time.Now().Unix(),
		MsgType: "text", Content: content, MsgID: 6054768590064713728 + n}
}

func inboundCount(t *testing.T, a *testApp) int {
	n, err := a.Store.CountInbound(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReceive_RejectsBadPushes(t *testing.T) {
	apps := map[bool]*testApp{false: newTestApp(t, plainMode), true: newTestApp(t)} // by safe
	app := apps[false]
	sub := event("oUser1", "subscribe", "")
	now := app.Clock.Now().Unix()
	tests := []struct {
		name   string
		body   []byte
		safe   bool
		ts     int64
		tweak  func(q url.Values)
		status int
	}{
		{"forged signature", sub.XML(), false, now, func(q url.Values) { q.Set("signature", strings.Repeat("0", 40)) }, 403},
		{"no signature", sub.XML(), false, now, func(q url.Values) { q.Del("signature") }, 403},
		{"stale timestamp", sub.XML(), false, now - 301, nil, 403},
		{"future timestamp", sub.XML(), false, now + 301, nil, 403},
		{"bad timestamp", sub.XML(), false, now, func(q url.Values) { q.Set("timestamp", "soon") }, 403},
		{"malformed XML", []byte("<xml><FromUserName>oops"), false, now, nil, 400},
		{"not XML", []byte(`{"json": true}`), false, now, nil, 400},
		{"missing fields", []byte("<xml><ToUserName><![CDATA[gh]]></ToUserName></xml>"), false, now, nil, 400},
		{"oversized body", append([]byte("<xml><Content><![CDATA["), bytes.Repeat([]byte("a"), 70<<10)...), false, now, nil, 413},
		{"forged msg_signature", sub.XML(), true, now, func(q url.Values) { q.Set("msg_signature", strings.Repeat("1", 40)) }, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := apps[tt.safe].pushRaw(t, tt.body, tt.safe, tt.ts, tt.tweak)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.Status, tt.status, r.Body)
			}
		})
	}
	for _, app := range apps {
		if n := inboundCount(t, app); n != 0 {
			t.Errorf("%d pushes stored from rejected requests", n)
		}
	}
}

func TestReceive_CiphertextForAnotherAppIsRejected(t *testing.T) {
	app := newTestApp(t)
	other, err := wechat.NewCrypter(testWXToken, testAESKey, "wxsomeoneelse")
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(app.Clock.Now().Unix(), 10)
	enc, _ := other.Encrypt(event("oUser1", "subscribe", "").XML())
	body := "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	q := url.Values{"timestamp": {ts}, "nonce": {"1"}, "encrypt_type": {"aes"}, "msg_signature": {other.Sign(ts, "1", enc)}}
	res, err := http.Post(app.URL+"/wechat?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	if n := inboundCount(t, app); n != 0 {
		t.Errorf("%d pushes stored", n)
	}
}

func TestReceive_RetriedPushIsProcessedOnce(t *testing.T) {
	for _, safe := range []bool{false, true} {
		t.Run(fmt.Sprintf("safe=%v", safe), func(t *testing.T) {
			app := newTestApp(t)
			if !safe {
				app = newTestApp(t, plainMode)
			}
			m := text("oUser9", "状态")
			first := app.replyText(t, app.push(t, m, safe, 0), safe)
			if !strings.Contains(first, "还没有绑定") {
				t.Fatalf("reply %q", first)
			}
			again := app.replyText(t, app.push(t, m, safe, 0), safe)
			if again != "" {
				t.Errorf("retry answered %q; want plain success", again)
			}
			if n := inboundCount(t, app); n != 1 {
				t.Errorf("%d stored, want 1", n)
			}
		})
	}
}

func TestReceive_FollowStateAndWindow(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	openid := app.SB.AddUser("root").OpenID
	reply := app.replyText(t, app.push(t, event(openid, "unsubscribe", ""), true, 0), true)
	if reply != "" {
		t.Errorf("unsubscribe answered %q", reply)
	}
	r := admin.get("/admin")
	if !strings.Contains(r.Body, "未关注") {
		t.Error("dashboard does not show the unfollow")
	}
	reply = app.replyText(t, app.push(t, event(openid, "subscribe", ""), true, 0), true)
	if !strings.Contains(reply, "root") {
		t.Errorf("re-follow welcome %q should name the bound account", reply)
	}
	app.replyText(t, app.push(t, text(openid, "你好"), true, 0), true)
	r = admin.get("/admin")
	if !strings.Contains(r.Body, "已关注") || !strings.Contains(r.Body, "可收客服消息") {
		t.Errorf("dashboard should show following and the open 48-hour window:\n%s", r.Body)
	}
}

func TestReceive_KeywordReplies(t *testing.T) {
	app := newTestApp(t, plainMode, func(c *testConfig) { c.Service.AutoReply = "收到，我们会尽快回复。" })
	tests := []struct{ in, want string }{
		{"绑定", app.URL + "/bind"},
		{"状态", "还没有绑定"},
		{"随便说说", "收到，我们会尽快回复"},
	}
	for _, tt := range tests {
		got := app.replyText(t, app.push(t, text("oKw", tt.in), false, 0), false)
		if !strings.Contains(got, tt.want) {
			t.Errorf("%q → %q, want it to contain %q", tt.in, got, tt.want)
		}
	}
}

func TestReceive_ScanBindsInOneStep(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	u := mustUser(t, app, "alice")
	token, rec, err := app.Store.NewBindToken(context.Background(), u.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Not yet following: subscribe with qrscene_ (docs/wechat.md §3).
	reply := app.replyText(t, app.push(t, event("oScan1", "subscribe", "qrscene_bind_"+token), true, 0), true)
	if !strings.Contains(reply, "已绑定账号「alice」") {
		t.Fatalf("welcome reply %q", reply)
	}
	r := b.get("/bind/status?t="+strconv.FormatInt(rec.ID, 10), "HX-Request", "true")
	if !strings.Contains(r.Body, "绑定成功") {
		t.Fatalf("poll after scan:\n%s", r.Body)
	}
	// The same code scanned again (already following → SCAN): used.
	reply = app.replyText(t, app.push(t, event("oScan2", "SCAN", "bind_"+token), true, 0), true)
	if !strings.Contains(reply, "用过了") {
		t.Errorf("reused scene reply %q", reply)
	}
	// Bob scans his own code with alice's WeChat: refused.
	bob := app.browser(t)
	bob.signup("bob")
	btok, _, _ := app.Store.NewBindToken(context.Background(), mustUser(t, app, "bob").ID, 10*time.Minute)
	reply = app.replyText(t, app.push(t, event("oScan1", "SCAN", "bind_"+btok), true, 0), true)
	if !strings.Contains(reply, "另一个账号") {
		t.Errorf("openid taken reply %q", reply)
	}
	// An expired code.
	etok, _, _ := app.Store.NewBindToken(context.Background(), mustUser(t, app, "bob").ID, time.Minute)
	app.Clock.Advance(2 * time.Minute)
	reply = app.replyText(t, app.push(t, event("oScan3", "SCAN", "bind_"+etok), true, 0), true)
	if !strings.Contains(reply, "已过期") {
		t.Errorf("expired scene reply %q", reply)
	}
}

func TestReceive_TemplateReceiptUpdatesDelivery(t *testing.T) {
	app := newTestApp(t)
	app.bindUser(t, "root")
	app.syncTemplates(t)
	ts, _ := app.Store.Templates(context.Background())
	var tid string
	for _, x := range ts {
		if keys := (wechat.Template{Content: x.Content}).Keys(); len(keys) > 0 && (keys[0] == "first" || keys[0] == "content") {
			tid = x.ID
		}
	}
	if tid == "" {
		t.Fatal("no free-text template")
	}
	m, err := app.Service.Send(context.Background(), service.Actor{Via: "test"}, service.SendRequest{Kind: store.KindTemplate, TemplateID: tid,
		Data: map[string]string{"content": "x"}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	var d store.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _ := app.Store.Deliveries(context.Background(), m.ID)
		if len(ds) == 1 && ds[0].MsgID != 0 {
			d = ds[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sent: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev := event(d.OpenID, "TEMPLATESENDJOBFINISH", "")
	ev.TemplateMsgID, ev.Status = d.MsgID, "failed:user block"
	app.replyText(t, app.push(t, ev, true, 0), true)
	got, _ := app.Store.Delivery(context.Background(), d.ID)
	if got.Receipt != store.ReceiptBlocked {
		t.Fatalf("receipt %q, want blocked", got.Receipt)
	}
}
