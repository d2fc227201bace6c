package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

const (
	pushToken = "spamtest"
	aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// appRequest is one push the stand-in app server received.
type appRequest struct {
	Query url.Values
	Body  []byte
	CType string
}

// answer is what the stand-in app does with the n-th push (from 1): a
// status, a body, and how long to take first.
type answer func(req appRequest, n int) (status int, body []byte, delay time.Duration)

// appServer stands in for wxpush's server URL: it records the pushes and
// answers them as told.
type appServer struct {
	t       *testing.T
	srv     *httptest.Server
	crypter *wechat.Crypter
	mode    string

	mu     sync.Mutex
	reqs   []appRequest
	answer answer
}

func newAppServer(t *testing.T, mode string, ans answer) *appServer {
	t.Helper()
	c, err := wechat.NewCrypter(pushToken, aesKey, appID)
	if err != nil {
		t.Fatal(err)
	}
	a := &appServer{t: t, crypter: c, mode: mode, answer: ans}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := appRequest{r.URL.Query(), body, r.Header.Get("Content-Type")}
		a.mu.Lock()
		a.reqs = append(a.reqs, req)
		n, f := len(a.reqs), a.answer
		a.mu.Unlock()
		status, out, delay := http.StatusOK, []byte("success"), time.Duration(0)
		if f != nil {
			status, out, delay = f(req, n)
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		w.Write(out)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *appServer) requests() []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]appRequest(nil), a.reqs...)
}

// inbound verifies a push as wxpush must (signature always; msg_signature
// and decryption when encrypted, docs/wechat.md §7/§8) and returns the message.
func (a *appServer) inbound(req appRequest) wechat.Inbound {
	a.t.Helper()
	q := req.Query
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if ts == "" || nonce == "" || !wechat.VerifySignature(pushToken, ts, nonce, q.Get("signature")) {
		a.t.Fatalf("bad signature: %v", q)
	}
	if req.CType != "text/xml" {
		a.t.Errorf("Content-Type %q", req.CType)
	}
	outer, err := wechat.ParseInbound(req.Body)
	if err != nil {
		a.t.Fatalf("parse %s: %v", req.Body, err)
	}
	if a.mode == ModePlain {
		if q.Has("encrypt_type") || q.Has("msg_signature") || outer.Encrypt != "" {
			a.t.Errorf("plain push carries encryption: %v %s", q, req.Body)
		}
		a.checkOpenID(q, outer)
		return outer
	}
	if q.Get("encrypt_type") != "aes" || !a.crypter.Verify(ts, nonce, outer.Encrypt, q.Get("msg_signature")) {
		a.t.Fatalf("bad msg_signature: %v %s", q, req.Body)
	}
	plain, err := a.crypter.Decrypt(outer.Encrypt)
	if err != nil {
		a.t.Fatal(err)
	}
	in, err := wechat.ParseInbound(plain)
	if err != nil {
		a.t.Fatalf("parse decrypted %s: %v", plain, err)
	}
	switch a.mode {
	case ModeSafe:
		if want := (wechat.Inbound{ToUserName: in.ToUserName, Encrypt: outer.Encrypt}); outer != want {
			a.t.Errorf("safe-mode body has more than ToUserName and Encrypt: %s", req.Body)
		}
	case ModeCompat:
		outer.Encrypt = ""
		if outer != in {
			a.t.Errorf("compat body's plain fields %+v differ from the encrypted %+v", outer, in)
		}
	}
	a.checkOpenID(q, in)
	return in
}

func (a *appServer) checkOpenID(q url.Values, in wechat.Inbound) {
	a.t.Helper()
	if q.Get("openid") != in.FromUserName {
		a.t.Errorf("openid %q, FromUserName %q", q.Get("openid"), in.FromUserName)
	}
}

// reply answers a push with a text, encrypted unless the mode is plain.
func (a *appServer) reply(req appRequest, in wechat.Inbound, text string) []byte {
	a.t.Helper()
	plain := wechat.TextReply(in.FromUserName, in.ToUserName, in.CreateTime, text)
	if a.mode == ModePlain {
		return plain
	}
	env, err := a.crypter.EncryptReply(plain, req.Query.Get("timestamp"), req.Query.Get("nonce"))
	if err != nil {
		a.t.Fatal(err)
	}
	return env
}

// newPushSandbox is a sandbox whose server URL is app.
func newPushSandbox(t *testing.T, opts Options, app *appServer) *api {
	t.Helper()
	opts.ServerURL, opts.ServerToken = app.srv.URL+"/wechat", pushToken
	if app.mode != ModePlain {
		opts.EncodingAESKey, opts.EncryptMode = aesKey, app.mode
	}
	return newAPI(t, opts)
}

// pushesOf waits for the asynchronous pushes and returns the app's view
// of them.
func pushesOf(a *api, app *appServer) []wechat.Inbound {
	a.t.Helper()
	a.sb.WaitPushes()
	var out []wechat.Inbound
	for _, r := range app.requests() {
		out = append(out, app.inbound(r))
	}
	return out
}

func TestPush_EveryKindSignedInEachMode(t *testing.T) {
	for _, mode := range []string{ModePlain, ModeCompat, ModeSafe} {
		t.Run(mode, func(t *testing.T) {
			app := newAppServer(t, mode, nil)
			a := newPushSandbox(t, Options{}, app)
			if got := a.sb.EncryptMode(); got != mode {
				t.Fatalf("mode %q", got)
			}
			zhang := a.sb.Users()[0].OpenID
			now := a.clk.Now().Unix()
			gh := a.sb.AccountID()
			if len(gh) != 15 || !strings.HasPrefix(gh, "gh_") || gh != accountIDFor(appID) {
				t.Errorf("AccountID %q", gh)
			}
			base := wechat.Inbound{ToUserName: gh, FromUserName: zhang, CreateTime: now, MsgType: "event"}
			check := func(what string, want wechat.Inbound) {
				t.Helper()
				got := pushesOf(a, app)
				if len(got) == 0 || got[len(got)-1] != want {
					t.Fatalf("%s: pushed %+v, want %+v", what, got, want)
				}
			}

			a.sb.SetFollowing(zhang, false)
			want := base
			want.Event = "unsubscribe"
			check("unfollow", want)
			a.sb.SetFollowing(zhang, true)
			want.Event = "subscribe"
			check("follow", want)

			if err := a.sb.Say(zhang, "你好 ]]> <x>"); err != nil {
				t.Fatal(err)
			}
			in := a.sb.Inbox(zhang)
			want = wechat.Inbound{ToUserName: gh, FromUserName: zhang, CreateTime: now, MsgType: "text",
				Content: "你好 ]]> <x>", MsgID: in[len(in)-1].MsgID}
			check("text", want)

			r := a.sendTemplate(a.token(), statusBody(a.sb, zhang))
			wantCode(t, "template", r, 0, "ok")
			want = base
			want.Event, want.TemplateMsgID, want.Status = "TEMPLATESENDJOBFINISH", msgidOf(t, r), "success"
			check("job finished", want)

			qr := a.createQR(`{"expire_seconds":600,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"bind_abc"}}}`)
			if err := a.sb.Scan(zhang, qr.URL); err != nil {
				t.Fatal(err)
			}
			want = base
			want.Event, want.EventKey, want.Ticket = "SCAN", "bind_abc", qr.Ticket
			check("SCAN", want)

			if n := len(app.requests()); n != 5 {
				t.Errorf("%d pushes, want 5", n)
			}
			for _, p := range a.sb.Pushes() {
				if p.Attempts != 1 || p.Status != 200 || p.Err != "" || p.Reply != "" || p.OpenID != zhang {
					t.Errorf("push log %+v", p)
				}
			}
		})
	}
}

func TestPush_WithoutServerURLNothingIsPushed(t *testing.T) {
	a := newAPI(t, Options{})
	zhang := a.sb.Users()[0].OpenID
	a.sb.SetFollowing(zhang, false)
	a.sb.SetFollowing(zhang, true)
	a.sb.Say(zhang, "hi")
	a.sb.WaitPushes()
	if p := a.sb.Pushes(); len(p) != 0 {
		t.Errorf("pushes %+v", p)
	}
	if _, err := a.sb.PushNow(wechat.Inbound{FromUserName: zhang, MsgType: "event", Event: "subscribe"}); err != ErrNoServerURL {
		t.Errorf("PushNow: %v", err)
	}
}

func TestPush_RetriesLikeWeChat(t *testing.T) {
	const timeout = 200 * time.Millisecond
	cases := []struct {
		name      string
		answer    answer
		attempts  int
		status    int
		failed    bool
		detailHas string
	}{
		{"no answer in time", func(appRequest, int) (int, []byte, time.Duration) {
			return 200, []byte("success"), 2 * timeout
		}, 3, 0, true, "无应答"},
		{"HTTP 500", func(appRequest, int) (int, []byte, time.Duration) {
			return 500, []byte("oops"), 0
		}, 3, 500, true, "HTTP 500"},
		{"success on the second attempt", func(_ appRequest, n int) (int, []byte, time.Duration) {
			if n == 1 {
				return 502, nil, 0
			}
			return 200, nil, 0
		}, 2, 200, false, ""},
		{"slow first, then success", func(_ appRequest, n int) (int, []byte, time.Duration) {
			if n == 1 {
				return 200, nil, 2 * timeout
			}
			return 200, []byte("success"), 0
		}, 2, 200, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newAppServer(t, ModeSafe, tc.answer)
			a := newPushSandbox(t, Options{PushTimeout: timeout}, app)
			zhang := a.sb.Users()[0].OpenID
			p, err := a.sb.PushNow(wechat.Inbound{FromUserName: zhang, MsgType: "text", Content: "在吗", MsgID: 42})
			if p.Attempts != tc.attempts || p.Status != tc.status || (p.Err != "") != tc.failed || (err != nil) != tc.failed ||
				!strings.Contains(p.Detail, tc.detailHas) {
				t.Fatalf("push %+v, err %v", p, err)
			}
			if tc.failed && p.Err != Unavailable {
				t.Errorf("Err %q", p.Err)
			}
			reqs := app.requests()
			if len(reqs) != tc.attempts {
				t.Fatalf("app got %d requests", len(reqs))
			}
			first := app.inbound(reqs[0])
			for _, r := range reqs[1:] {
				if !bytes.Equal(r.Body, reqs[0].Body) || app.inbound(r) != first {
					t.Errorf("retry body differs:\n%s\n%s", r.Body, reqs[0].Body)
				}
			}
			if first.MsgID != 42 || first.CreateTime != a.clk.Now().Unix() || first.ToUserName != a.sb.AccountID() {
				t.Errorf("pushed %+v", first)
			}
			// WeChat tells the user when the account failed to answer.
			in := a.sb.Inbox(zhang)
			gotNotice := len(in) > 0 && in[len(in)-1].Kind == KindNotice && in[len(in)-1].Content == Unavailable
			if gotNotice != tc.failed {
				t.Errorf("inbox %+v", in)
			}
			if log := a.sb.Pushes(); len(log) != 1 || log[0] != p {
				t.Errorf("log %+v", log)
			}
		})
	}
}

func TestPush_PassiveReplies(t *testing.T) {
	type tc struct {
		name  string
		mode  string
		reply func(app *appServer, req appRequest, in wechat.Inbound) []byte
		want  string // reply shown; "" with fail: malformed
		fail  bool
	}
	text := func(app *appServer, req appRequest, in wechat.Inbound) []byte {
		return app.reply(req, in, "欢迎！\n回复 1 绑定")
	}
	plainText := func(app *appServer, req appRequest, in wechat.Inbound) []byte {
		return wechat.TextReply(in.FromUserName, in.ToUserName, in.CreateTime, "明文回复")
	}
	cases := []tc{
		{"plain", ModePlain, text, "欢迎！\n回复 1 绑定", false},
		{"safe encrypted", ModeSafe, text, "欢迎！\n回复 1 绑定", false},
		{"compat encrypted", ModeCompat, text, "欢迎！\n回复 1 绑定", false},
		{"compat plain", ModeCompat, plainText, "明文回复", false},
		{"safe plain is refused", ModeSafe, plainText, "", true},
		{"empty body", ModeSafe, func(*appServer, appRequest, wechat.Inbound) []byte { return nil }, "", false},
		{"success", ModeSafe, func(*appServer, appRequest, wechat.Inbound) []byte { return []byte("success\n") }, "", false},
		{"JSON", ModePlain, func(*appServer, appRequest, wechat.Inbound) []byte { return []byte(`{"ok":true}`) }, "", true},
		{"empty Content", ModePlain, func(app *appServer, req appRequest, in wechat.Inbound) []byte {
			return app.reply(req, in, "")
		}, "", true},
		{"wrong user", ModePlain, func(app *appServer, req appRequest, in wechat.Inbound) []byte {
			return wechat.TextReply("onobody", in.ToUserName, in.CreateTime, "hi")
		}, "", true},
		{"bad msg_signature", ModeSafe, func(app *appServer, req appRequest, in wechat.Inbound) []byte {
			return bytes.Replace(app.reply(req, in, "hi"), []byte("<TimeStamp>"), []byte("<TimeStamp>1"), 1)
		}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var app *appServer
			app = newAppServer(t, c.mode, func(req appRequest, _ int) (int, []byte, time.Duration) {
				return 200, c.reply(app, req, app.inbound(req)), 0
			})
			a := newPushSandbox(t, Options{}, app)
			zhang := a.sb.Users()[0].OpenID
			if err := a.sb.Say(zhang, "你好"); err != nil {
				t.Fatal(err)
			}
			a.sb.WaitPushes()
			p := a.sb.Pushes()
			if len(p) != 1 || p[0].Reply != c.want || (p[0].Err != "") != c.fail || p[0].Attempts != 1 {
				t.Fatalf("push %+v", p)
			}
			in := a.sb.Inbox(zhang)
			last := in[len(in)-1]
			switch {
			case c.want != "":
				if len(in) != 2 || last.Kind != KindText || last.FromUser || !last.Passive || last.Content != c.want {
					t.Errorf("inbox %+v", in)
				}
			case c.fail:
				if len(in) != 2 || last.Kind != KindNotice || last.Content != Unavailable || p[0].Err != Unavailable {
					t.Errorf("inbox %+v", in)
				}
			default:
				if len(in) != 1 {
					t.Errorf("inbox %+v", in)
				}
			}
		})
	}
}

func TestTemplateJobFinished(t *testing.T) {
	app := newAppServer(t, ModePlain, func(appRequest, int) (int, []byte, time.Duration) {
		return 200, []byte("欢迎"), 0 // a malformed reply: ignored for receipts, as nobody sees it
	})
	var hooked []int64
	var hookMu sync.Mutex
	a := newPushSandbox(t, Options{OnTemplateSent: func(_ string, msgid int64) {
		hookMu.Lock()
		hooked = append(hooked, msgid)
		hookMu.Unlock()
	}}, app)
	users := a.sb.Users()
	zhang, li := users[0].OpenID, users[1].OpenID
	if err := a.sb.SetBlocked(li, true); err != nil {
		t.Fatal(err)
	}
	tok := a.token()
	body := statusBody(a.sb, zhang)
	body["client_msg_id"] = "m1"
	r1 := a.sendTemplate(tok, body)
	wantCode(t, "first", r1, 0, "ok")
	wantCode(t, "repeat", a.sendTemplate(tok, body), 0, "ok")
	r2 := a.sendTemplate(tok, statusBody(a.sb, li))
	wantCode(t, "blocked user", r2, 0, "ok")

	got := pushesOf(a, app)
	status := map[int64]string{}
	for _, in := range got {
		if in.Event != "TEMPLATESENDJOBFINISH" || in.MsgType != "event" {
			t.Errorf("push %+v", in)
		}
		status[in.TemplateMsgID] = in.Status
	}
	if len(got) != 2 || status[msgidOf(t, r1)] != "success" || status[msgidOf(t, r2)] != "failed:user block" {
		t.Errorf("receipts %+v", got)
	}
	if len(hooked) != 2 {
		t.Errorf("OnTemplateSent called for %v", hooked)
	}
	// The blocked user sees nothing, and customer-service sends are refused.
	if in := a.sb.Inbox(li); len(in) != 0 {
		t.Errorf("blocked user's inbox %+v", in)
	}
	if in := a.sb.Inbox(zhang); len(in) != 1 {
		t.Errorf("inbox %+v", in)
	}
	a.sb.Interact(li)
	wantCode(t, "custom to blocked", a.sendText(tok, li, "hi"), 48002, "api blocked")
	a.sb.SetBlocked(li, false)
	wantCode(t, "custom to unblocked", a.sendText(tok, li, "hi"), 0, "ok")
}

func msgidOf(t *testing.T, r result) int64 {
	t.Helper()
	var v struct {
		MsgID int64 `json:"msgid"`
	}
	if err := json.Unmarshal([]byte(r.raw), &v); err != nil || v.MsgID == 0 {
		t.Fatalf("no msgid in %s", r.raw)
	}
	return v.MsgID
}

// qrAnswer is qrcode/create's success answer.
type qrAnswer struct {
	Ticket        string `json:"ticket"`
	ExpireSeconds *int64 `json:"expire_seconds"`
	URL           string `json:"url"`
	ErrCode       int    `json:"errcode"`
}

func (a *api) createQR(body string) qrAnswer {
	a.t.Helper()
	_, raw := a.call("POST", "/cgi-bin/qrcode/create?access_token="+url.QueryEscape(a.token()), body)
	var q qrAnswer
	if err := json.Unmarshal([]byte(raw), &q); err != nil || q.Ticket == "" {
		a.t.Fatalf("qrcode/create: %s", raw)
	}
	return q
}

func TestQRCreate(t *testing.T) {
	a := newAPI(t, Options{})
	tok := a.token()
	str := func(s string, exp int) string {
		return `{"expire_seconds":` + strconv.Itoa(exp) + `,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"` + s + `"}}}`
	}
	errs := []struct {
		name, token, body string
		code              int
		msg               string
	}{
		{"no token", "", str("a", 60), 41001, "access_token missing"},
		{"bad token", "nope", str("a", 60), 40014, "invalid access_token"},
		{"empty body", tok, "", 44002, "empty post data"},
		{"not JSON", tok, "{", 47001, "data format error"},
		{"no action_name", tok, `{"action_info":{"scene":{"scene_id":1}}}`, 40097, "invalid args"},
		{"bad action_name", tok, `{"action_name":"QR_FOREVER","action_info":{"scene":{"scene_id":1}}}`, 40097, "invalid args"},
		{"empty scene_str", tok, str("", 60), 40097, "invalid args scene_str"},
		{"65-byte scene_str", tok, str(strings.Repeat("x", 65), 60), 40097, "invalid args scene_str"},
		{"negative expiry", tok, str("a", -1), 40097, "invalid args expire_seconds"},
		{"permanent scene_id too big", tok, `{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100001}}}`, 40097, "invalid args scene_id"},
		{"temporary scene_id over 32 bits", tok, `{"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":4294967296}}}`, 40097, "invalid args scene_id"},
	}
	for _, e := range errs {
		r := a.do("POST", "/cgi-bin/qrcode/create", e.token, e.body)
		wantCode(t, e.name, r, e.code, e.msg)
	}

	ok := []struct {
		name, body string
		expire     int64 // 0: permanent, no expire_seconds
	}{
		{"string, default expiry", `{"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"bind_1"}}}`, 60},
		{"64-byte string", str(strings.Repeat("x", 64), 600), 600},
		{"clamped to 30 days", str("a", 9999999), 2592000},
		{"int", `{"expire_seconds":1800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}}`, 1800},
		{"permanent", `{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"shop"}}}`, 0},
	}
	for _, o := range ok {
		q := a.createQR(o.body)
		got := int64(0)
		if q.ExpireSeconds != nil {
			got = *q.ExpireSeconds
		}
		if q.ErrCode != 0 || got != o.expire || !strings.HasPrefix(q.URL, a.srv.URL+"/q/") {
			t.Errorf("%s: %+v", o.name, q)
		}
	}
	p1 := a.createQR(ok[4].body)
	p2 := a.createQR(ok[4].body)
	if p1 != p2 {
		t.Errorf("permanent code for one scene differs: %+v %+v", p1, p2)
	}
	// Stats count the successful calls only: five, and the permanent one twice.
	if n := a.sb.Stats().QRCodesCreated; n != len(ok)+2 {
		t.Errorf("Stats().QRCodesCreated = %d, want %d", n, len(ok)+2)
	}
}

func TestScan_OverHTTP(t *testing.T) {
	var app *appServer
	app = newAppServer(t, ModeSafe, func(req appRequest, _ int) (int, []byte, time.Duration) {
		in := app.inbound(req)
		return 200, app.reply(req, in, "你好，"+in.Event+" "+in.EventKey), 0
	})
	a := newPushSandbox(t, Options{PathPrefix: "/sandbox"}, app)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", a.sb))
	site := httptest.NewServer(mux)
	defer site.Close()
	// Call the API through the mount too, so the code's url is under it.
	a.srv = &httptest.Server{URL: site.URL + "/sandbox"}
	c := browser(t)
	zhang := a.sb.Users()[0].OpenID

	qr := a.createQR(`{"expire_seconds":600,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"bind_xyz"}}}`)
	if !strings.HasPrefix(qr.URL, site.URL+"/sandbox/q/") {
		t.Fatalf("url %q", qr.URL)
	}

	// A new user: chooser, profile, follow.
	status, page := get(t, c, qr.URL)
	if status != 200 || !strings.Contains(page, `id="choose"`) || !strings.Contains(page, `id="new-nickname"`) || !strings.Contains(page, `name="openid"`) {
		t.Fatalf("chooser: %d\n%s", status, page)
	}
	action := site.URL + formAction(t, page)
	resp := post(t, c, action, url.Values{"step": {"choose"}, "nickname": {"小明"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="qr-follow"`) || !strings.Contains(string(body), a.sb.AccountID()) {
		t.Fatalf("profile: %d\n%s", resp.StatusCode, body)
	}
	ming := OpenID(appID, "小明")
	if u, _ := a.sb.User(ming); u.Following {
		t.Fatal("new scanner already follows")
	}
	resp = post(t, c, site.URL+formAction(t, string(body)), url.Values{"step": {"follow"}, "openid": {ming}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sandbox/phone/"+ming {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	in := pushesOf(a, app)
	want := wechat.Inbound{ToUserName: a.sb.AccountID(), FromUserName: ming, CreateTime: a.clk.Now().Unix(),
		MsgType: "event", Event: "subscribe", EventKey: "qrscene_bind_xyz", Ticket: qr.Ticket}
	if len(in) != 1 || in[0] != want {
		t.Fatalf("pushed %+v", in)
	}
	// The redirect came after the reply: the chat shows it at once.
	_, page = get(t, c, site.URL+"/sandbox/phone/"+ming)
	if !strings.Contains(page, "你好，subscribe qrscene_bind_xyz") {
		t.Errorf("phone lacks the passive reply:\n%s", page)
	}
	u, _ := a.sb.User(ming)
	if !u.Following || u.QRSceneStr != "bind_xyz" {
		t.Errorf("user %+v", u)
	}
	wantCode(t, "custom after scan", a.sendText(a.token(), ming, "欢迎"), 0, "ok")

	// The same phone again: the chooser preselects it; a follower's scan is SCAN.
	_, page = get(t, c, qr.URL)
	if !strings.Contains(page, `value="`+ming+`" data-openid="`+ming+`" checked`) {
		t.Errorf("chooser does not preselect the last user:\n%s", page)
	}
	resp = post(t, c, action, url.Values{"step": {"choose"}, "openid": {zhang}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sandbox/phone/"+zhang {
		t.Fatalf("follower scan: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	in = pushesOf(a, app)
	if last := in[len(in)-1]; last.Event != "SCAN" || last.EventKey != "bind_xyz" || last.Ticket != qr.Ticket || last.FromUserName != zhang {
		t.Errorf("pushed %+v", last)
	}
	if msgs := a.sb.Inbox(zhang); len(msgs) != 1 || msgs[0].Content != "你好，SCAN bind_xyz" {
		t.Errorf("inbox %+v", msgs)
	}

	// No choice at all.
	if resp := post(t, c, action, url.Values{"step": {"choose"}}); resp.StatusCode != 400 {
		t.Errorf("no user: %d", resp.StatusCode)
	}
	// Expired: WeChat's page, before and after choosing.
	a.clk.Advance(601 * time.Second)
	status, page = get(t, c, qr.URL)
	if status != http.StatusGone || !strings.Contains(page, "二维码已过期") || !strings.Contains(page, `id="qr-expired"`) {
		t.Errorf("expired: %d\n%s", status, page)
	}
	if resp := post(t, c, action, url.Values{"step": {"choose"}, "openid": {zhang}}); resp.StatusCode != http.StatusGone {
		t.Errorf("expired post: %d", resp.StatusCode)
	}
	if err := a.sb.Scan(zhang, qr.URL); err != ErrQRExpired {
		t.Errorf("Scan expired: %v", err)
	}
	if status, _ := get(t, c, site.URL+"/sandbox/q/nope"); status != 404 {
		t.Errorf("unknown code: %d", status)
	}
	if n := len(app.requests()); n != 2 {
		t.Errorf("%d pushes", n)
	}
}

func TestPhone_SayShowsReplyAndHomeShowsLog(t *testing.T) {
	var app *appServer
	app = newAppServer(t, ModePlain, func(req appRequest, _ int) (int, []byte, time.Duration) {
		in := app.inbound(req)
		if in.MsgType == "text" {
			return 200, app.reply(req, in, "收到："+in.Content), 0
		}
		return 200, nil, 0
	})
	a := newPushSandbox(t, Options{}, app)
	c := browser(t)
	zhang := a.sb.Users()[0].OpenID
	phone := a.srv.URL + "/phone/" + zhang

	resp := post(t, c, phone+"/say", url.Values{"text": {"绑定"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("say: %d", resp.StatusCode)
	}
	_, page := get(t, c, phone)
	i, j := strings.Index(page, `<div class="bubble">绑定</div>`), strings.Index(page, `<div class="bubble">收到：绑定</div>`)
	if i < 0 || j < i || !strings.Contains(page, `<li class="msg msg-text msg-mine"`) {
		t.Errorf("chat lacks the text and then its reply:\n%s", page)
	}

	// 拒收消息 and back.
	if resp := post(t, c, phone+"/block", url.Values{"blocked": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", resp.StatusCode)
	}
	if u, _ := a.sb.User(zhang); !u.Blocked {
		t.Error("not blocked")
	}
	_, page = get(t, c, phone)
	if !strings.Contains(page, `id="unblock"`) || !strings.Contains(page, `data-blocked="true"`) {
		t.Error("phone does not show 拒收消息 on")
	}
	post(t, c, phone+"/block", url.Values{"blocked": {"0"}})
	if u, _ := a.sb.User(zhang); u.Blocked {
		t.Error("still blocked")
	}
	post(t, c, phone+"/unfollow", nil)

	a.sb.WaitPushes()
	_, page = get(t, c, a.srv.URL+"/")
	for _, want := range []string{`id="server-url"`, app.srv.URL + "/wechat", `data-mode="plain"`, a.sb.AccountID(),
		`id="pushes"`, `data-kind="text"`, `data-kind="unsubscribe"`, "被动回复：收到：绑定"} {
		if !strings.Contains(page, want) {
			t.Errorf("home lacks %s", want)
		}
	}
}

func TestNew_PushOptions(t *testing.T) {
	bad := []Options{
		{ServerURL: "ftp://x/"},
		{ServerURL: "http://x/", EncodingAESKey: "short"},
		{ServerURL: "http://x/", EncryptMode: ModeSafe},
		{ServerURL: "http://x/", EncodingAESKey: aesKey, EncryptMode: "aes"},
	}
	for _, o := range bad {
		o.AppID, o.AppSecret = appID, secret
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	sb, err := New(Options{AppID: appID, AppSecret: secret, EncodingAESKey: aesKey, AccountID: "gh_0123456789ab"})
	if err != nil || sb.EncryptMode() != ModeSafe || sb.AccountID() != "gh_0123456789ab" {
		t.Errorf("defaults: %v %q %q", err, sb.EncryptMode(), sb.AccountID())
	}
}

// BenchmarkPushNow: one push with a passive reply, safe mode, end to end.
func BenchmarkPushNow(b *testing.B) {
	c, err := wechat.NewCrypter(pushToken, aesKey, appID)
	if err != nil {
		b.Fatal(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		env, _ := c.EncryptReply([]byte("<xml><ToUserName><![CDATA["+r.URL.Query().Get("openid")+"]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ok]]></Content></xml>"),
			r.URL.Query().Get("timestamp"), r.URL.Query().Get("nonce"))
		w.Write(env)
	}))
	defer app.Close()
	sb, err := New(Options{AppID: appID, AppSecret: secret, ServerURL: app.URL, ServerToken: pushToken, EncodingAESKey: aesKey})
	if err != nil {
		b.Fatal(err)
	}
	zhang := sb.Users()[0].OpenID
	b.ResetTimer()
	for i := range b.N {
		if _, err := sb.PushNow(wechat.Inbound{FromUserName: zhang, MsgType: "text", Content: "hi", MsgID: int64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
}

// With Faults.ReceiptFirst the app has the receipt, and has answered it,
// before the template send is answered: the order real WeChat can produce
// and the app must cope with.
func TestPush_ReceiptFirstArrivesBeforeTheSendIsAnswered(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	app := newAppServer(t, ModeSafe, func(req appRequest, n int) (int, []byte, time.Duration) {
		note("push")
		return http.StatusOK, []byte("success"), 0
	})
	a := newPushSandbox(t, Options{Faults: Faults{ReceiptFirst: true}}, app)
	if !a.sb.Faults().ReceiptFirst {
		t.Fatal("Options.Faults.ReceiptFirst not applied")
	}
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()
	for i := range 3 {
		r := a.sendTemplate(tok, statusBody(a.sb, zhang))
		note("answer")
		wantCode(t, "send", r, 0, "ok")
		// No WaitPushes: the push must already be done.
		reqs := app.requests()
		if len(reqs) != i+1 {
			t.Fatalf("send %d answered with %d receipts pushed, want %d", i+1, len(reqs), i+1)
		}
		in := app.inbound(reqs[i])
		if in.Event != "TEMPLATESENDJOBFINISH" || in.TemplateMsgID != msgidOf(t, r) || in.Status != "success" {
			t.Errorf("receipt %+v for msgid %d", in, msgidOf(t, r))
		}
		if ps := a.sb.Pushes(); len(ps) != i+1 || ps[i].Status != 200 || ps[i].Err != "" {
			t.Errorf("push log %+v", ps)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ","); got != "push,answer,push,answer,push,answer" {
		t.Errorf("order %s, want each receipt pushed before its send is answered", got)
	}
}
