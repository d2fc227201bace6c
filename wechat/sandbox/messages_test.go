package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// api is a sandbox under test, called over real HTTP.
type api struct {
	t   *testing.T
	sb  *Sandbox
	clk *clock
	srv *httptest.Server
}

func newAPI(t *testing.T, opts Options) *api {
	t.Helper()
	sb, clk := newSandbox(t, opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &api{t, sb, clk, srv}
}

// token fetches a fresh access token with /cgi-bin/token.
func (a *api) token() string {
	a.t.Helper()
	var tok tokenJSON
	_, raw := a.call("GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret="+secret, "")
	if err := json.Unmarshal([]byte(raw), &tok); err != nil || tok.AccessToken == "" {
		a.t.Fatalf("token: %s", raw)
	}
	return tok.AccessToken
}

// call makes a request and returns the status and raw body.
func (a *api) call(method, path, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// result is a JSON answer's errcode and errmsg, and the raw body.
type result struct {
	status int
	code   int
	msg    string
	raw    string
}

func (a *api) do(method, path, token, body string) result {
	a.t.Helper()
	if token != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "access_token=" + url.QueryEscape(token)
	}
	status, raw := a.call(method, path, body)
	res := result{status: status, raw: raw}
	if status == http.StatusOK {
		var e struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			a.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		res.code, res.msg = e.ErrCode, e.ErrMsg
	}
	return res
}

func (a *api) sendTemplate(token string, body any) result {
	a.t.Helper()
	b, _ := json.Marshal(body)
	return a.do("POST", "/cgi-bin/message/template/send", token, string(b))
}

func (a *api) sendText(token, openid, content string) result {
	a.t.Helper()
	b, _ := json.Marshal(map[string]any{"touser": openid, "msgtype": "text", "text": map[string]string{"content": content}})
	return a.do("POST", "/cgi-bin/message/custom/send", token, string(b))
}

// statusBody is a valid send of the 服务状态通知 sample template.
func statusBody(sb *Sandbox, openid string) map[string]any {
	return map[string]any{
		"touser":      openid,
		"template_id": TemplateID(appID, "服务状态通知"),
		"url":         "https://app.example/m/1",
		"data": map[string]any{
			"thing1":  map[string]string{"value": "数据库备份"},
			"phrase2": map[string]string{"value": "已完成"},
			"time3":   map[string]string{"value": "2025年3月1日 10:00"},
		},
	}
}

func wantCode(t *testing.T, what string, r result, code int, msgPrefix string) {
	t.Helper()
	if r.status != 200 || r.code != code || !strings.HasPrefix(r.msg, msgPrefix) {
		t.Errorf("%s: status %d errcode %d %q, want %d %q…", what, r.status, r.code, r.msg, code, msgPrefix)
	}
}

func TestMessageAPIs_TokenErrors(t *testing.T) {
	a := newAPI(t, Options{TokenTTL: time.Hour})
	zhang := a.sb.Users()[0].OpenID
	expired := a.token()
	a.clk.Advance(time.Hour)
	superseded := a.token()
	a.token() // supersedes it…
	a.clk.Advance(6 * time.Minute)
	// …and 5 minutes later it answers 40001 (docs/wechat.md §1).

	endpoints := []struct{ name, method, path, body string }{
		{"template send", "POST", "/cgi-bin/message/template/send", `{"touser":"` + zhang + `"}`},
		{"custom send", "POST", "/cgi-bin/message/custom/send", `{"touser":"` + zhang + `","msgtype":"text","text":{"content":"hi"}}`},
		{"templates", "GET", "/cgi-bin/template/get_all_private_template", ""},
		{"user info", "GET", "/cgi-bin/user/info", ""},
		{"batchget", "POST", "/cgi-bin/user/info/batchget", `{"user_list":[{"openid":"` + zhang + `"}]}`},
	}
	tokens := []struct {
		name, token string
		code        int
		msg         string
	}{
		{"missing", "", 41001, "access_token missing"},
		{"garbage", "nope", 40014, "invalid access_token"},
		{"expired", expired, 42001, "access_token expired"},
		{"superseded", superseded, 40001, "invalid credential"},
	}
	for _, e := range endpoints {
		for _, tk := range tokens {
			t.Run(e.name+"/"+tk.name, func(t *testing.T) {
				path := e.path
				if tk.token != "" {
					path += "?access_token=" + url.QueryEscape(tk.token)
				}
				if e.name == "user info" {
					path += map[bool]string{true: "&", false: "?"}[tk.token != ""] + "openid=" + zhang
				}
				wantCode(t, "", a.do(e.method, path, "", e.body), tk.code, tk.msg)
			})
		}
	}
	a.sb.InvalidateTokens()
	tok := a.token()
	a.sb.InvalidateTokens()
	wantCode(t, "after InvalidateTokens", a.sendTemplate(tok, statusBody(a.sb, zhang)), 40001, "invalid credential")
	if a.sb.TotalDelivered() != 0 {
		t.Errorf("delivered %d with bad tokens", a.sb.TotalDelivered())
	}
}

func TestTemplateSend_Errors(t *testing.T) {
	a := newAPI(t, Options{})
	zhang := a.sb.Users()[0].OpenID
	lisi := a.sb.Users()[1].OpenID
	if err := a.sb.SetFollowing(lisi, false); err != nil {
		t.Fatal(err)
	}
	tok := a.token()
	with := func(openid string, edit func(b map[string]any)) string {
		b := statusBody(a.sb, openid)
		if edit != nil {
			edit(b)
		}
		j, _ := json.Marshal(b)
		return string(j)
	}
	value := func(key, v string) func(map[string]any) {
		return func(b map[string]any) { b["data"].(map[string]any)[key] = map[string]string{"value": v} }
	}
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"empty body", "", 44002, "empty post data"},
		{"not JSON", "touser=x", 47001, "data format error"},
		{"value not a string", with(zhang, func(b map[string]any) { b["data"].(map[string]any)["thing1"] = map[string]int{"value": 1} }), 47001, "data format error"},
		{"unknown openid", with("onobody", nil), 40003, "invalid openid"},
		{"no touser", with("", nil), 40003, "invalid openid"},
		{"not following", with(lisi, nil), 43004, "require subscribe"},
		{"unknown template", with(zhang, func(b map[string]any) { b["template_id"] = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY" }), 40037, "invalid template_id"},
		{"no template", with(zhang, func(b map[string]any) { delete(b, "template_id") }), 40037, "invalid template_id"},
		{"thing too long", with(zhang, value("thing1", strings.Repeat("长", 21))), 47003, "argument invalid! data.thing1.value invalid rid: "},
		{"phrase not Han", with(zhang, value("phrase2", "done")), 47003, "argument invalid! data.phrase2.value invalid rid: "},
		{"phrase too long", with(zhang, value("phrase2", "已经全部完成")), 47003, "argument invalid! data.phrase2.value invalid rid: "},
		{"time not a time", with(zhang, value("time3", "明天")), 47003, "argument invalid! data.time3.value invalid rid: "},
		{"missing value", with(zhang, func(b map[string]any) { delete(b["data"].(map[string]any), "time3") }), 47003, "argument invalid! data.time3.value is empty rid: "},
		{"blank value", with(zhang, value("thing1", "  ")), 47003, "argument invalid! data.thing1.value is empty rid: "},
		{"emoji only is empty", with(zhang, value("thing1", "🎉🎉")), 47003, "argument invalid! data.thing1.value is empty rid: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "", a.do("POST", "/cgi-bin/message/template/send", tok, tt.body), tt.code, tt.msg)
		})
	}
	// A user who does not follow gets 43004 even for a valid send; after
	// following, the same send goes through.
	if err := a.sb.SetFollowing(lisi, true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "after follow", a.do("POST", "/cgi-bin/message/template/send", tok, with(lisi, nil)), 0, "ok")
	if n := a.sb.TotalDelivered(); n != 1 {
		t.Errorf("TotalDelivered = %d, want 1", n)
	}
	st := a.sb.Stats()
	if st.TemplateSends != 1 || st.Errors[47003] != 7 || st.Errors[40003] != 2 || st.Errors[43004] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTemplateSend_DeliversWithExactMsgID(t *testing.T) {
	var mu sync.Mutex
	var hooked []int64
	a := newAPI(t, Options{OnTemplateSent: func(openid string, msgid int64) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, msgid)
	}})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()

	body := statusBody(a.sb, zhang)
	body["data"].(map[string]any)["thing1"] = map[string]string{"value": "数据库备份✅", "color": "#173177"}
	body["data"].(map[string]any)["remark"] = map[string]string{"value": "备注会被丢弃"}
	r := a.sendTemplate(tok, body)
	wantCode(t, "send", r, 0, "ok")
	m := regexp.MustCompile(`"msgid":(\d+)[,}]`).FindStringSubmatch(r.raw)
	if m == nil || len(m[1]) != 19 {
		t.Fatalf("msgid not a 19-digit number: %s", r.raw)
	}
	inbox := a.sb.Inbox(zhang)
	if len(inbox) != 1 {
		t.Fatalf("inbox = %+v", inbox)
	}
	got := inbox[0]
	if strconv.FormatInt(got.MsgID, 10) != m[1] {
		t.Errorf("inbox msgid %d, answer %s", got.MsgID, m[1])
	}
	wantFields := []Field{
		{"thing1", "服务名称", "数据库备份"}, // emoji stripped (docs/wechat.md §4)
		{"phrase2", "状态", "已完成"},
		{"time3", "时间", "2025年3月1日 10:00"},
	}
	if got.Kind != KindTemplate || got.Title != "服务状态通知" || got.URL != "https://app.example/m/1" ||
		got.TemplateID != TemplateID(appID, "服务状态通知") || fmt.Sprint(got.Fields) != fmt.Sprint(wantFields) || !got.At.Equal(a.clk.Now()) {
		t.Errorf("delivered %+v", got)
	}
	mu.Lock()
	if len(hooked) != 1 || hooked[0] != got.MsgID {
		t.Errorf("OnTemplateSent got %v", hooked)
	}
	mu.Unlock()

	// The free-form test template: first and remark are dropped silently.
	r = a.sendTemplate(tok, map[string]any{
		"touser": zhang, "template_id": TemplateID(appID, "测试消息"),
		"data": map[string]any{"first": map[string]string{"value": "标题"}, "content": map[string]string{"value": "第一行\n第二行"}},
	})
	wantCode(t, "free-form", r, 0, "ok")
	inbox = a.sb.Inbox(zhang)
	if f := inbox[1].Fields; len(f) != 1 || f[0] != (Field{"content", "内容", "第一行\n第二行"}) {
		t.Errorf("free-form fields %+v", f)
	}
	if inbox[1].MsgID <= inbox[0].MsgID {
		t.Errorf("msgids not increasing: %d then %d", inbox[0].MsgID, inbox[1].MsgID)
	}
}

func TestTemplateSend_ClientMsgIDDedup(t *testing.T) {
	a := newAPI(t, Options{})
	zhang, lisi := a.sb.Users()[0].OpenID, a.sb.Users()[1].OpenID
	tok := a.token()
	send := func(openid, cid string) int64 {
		t.Helper()
		b := statusBody(a.sb, openid)
		b["client_msg_id"] = cid
		r := a.sendTemplate(tok, b)
		var ok struct {
			MsgID int64 `json:"msgid"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.raw), &ok) != nil || ok.MsgID == 0 {
			t.Fatalf("send: %s", r.raw)
		}
		return ok.MsgID
	}
	first := send(zhang, "MSG_0001")
	a.clk.Advance(9 * time.Minute)
	if again := send(zhang, "MSG_0001"); again != first {
		t.Errorf("repeat within 10 min: msgid %d, want %d", again, first)
	}
	if n := len(a.sb.Inbox(zhang)); n != 1 {
		t.Errorf("inbox has %d messages after a repeat, want 1", n)
	}
	other := send(zhang, "MSG_0002")
	otherUser := send(lisi, "MSG_0001") // the key is openid + client_msg_id
	a.clk.Advance(time.Minute)
	later := send(zhang, "MSG_0001") // 10 minutes on: sent again
	if other == first || otherUser == first || later == first {
		t.Errorf("msgids %d %d %d should differ from %d", other, otherUser, later, first)
	}
	if n, st := a.sb.TotalDelivered(), a.sb.Stats(); n != 4 || st.TemplateSends != 4 || len(a.sb.Inbox(zhang)) != 3 {
		t.Errorf("TotalDelivered %d, TemplateSends %d, zhang's inbox %d; want 4, 4, 3", n, st.TemplateSends, len(a.sb.Inbox(zhang)))
	}
}

func TestCustomSend_Windows(t *testing.T) {
	a := newAPI(t, Options{})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()

	// Seeded users have just followed: 3 messages within 1 minute (docs/wechat.md §4).
	for i := range 3 {
		wantCode(t, fmt.Sprint("follow window ", i), a.sendText(tok, zhang, "hi"), 0, "ok")
	}
	wantCode(t, "4th after follow", a.sendText(tok, zhang, "hi"), 45047, "out of response count limit")
	a.clk.Advance(time.Minute)
	wantCode(t, "after 1 min", a.sendText(tok, zhang, "hi"), 45015, "response out of time limit or subscription is canceled")

	// The user sends a message: 5 within 48 h.
	if err := a.sb.Interact(zhang); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		wantCode(t, fmt.Sprint("message window ", i), a.sendText(tok, zhang, "reply"), 0, "ok")
	}
	wantCode(t, "6th after message", a.sendText(tok, zhang, "reply"), 45047, "out of response count limit")
	if err := a.sb.Say(zhang, "还在吗"); err != nil { // a new message renews the window
		t.Fatal(err)
	}
	a.clk.Advance(47 * time.Hour)
	tok = a.token()
	wantCode(t, "47 h later", a.sendText(tok, zhang, "yes"), 0, "ok")
	a.clk.Advance(time.Hour)
	tok = a.token()
	wantCode(t, "48 h later", a.sendText(tok, zhang, "late"), 45015, "response out of time limit")

	// Unfollowing closes every window; following again opens 3 / 1 min.
	if err := a.sb.Say(zhang, "hello"); err != nil {
		t.Fatal(err)
	}
	a.sb.SetFollowing(zhang, false)
	wantCode(t, "unfollowed", a.sendText(tok, zhang, "hi"), 45015, "response out of time limit")
	if err := a.sb.Interact(zhang); err != ErrNotFollowing {
		t.Errorf("Interact by a non-follower: %v", err)
	}
	a.sb.SetFollowing(zhang, true)
	wantCode(t, "followed again", a.sendText(tok, zhang, "welcome"), 0, "ok")

	var texts []string
	for _, m := range a.sb.Inbox(zhang) {
		texts = append(texts, fmt.Sprintf("%v:%s", m.FromUser, m.Content))
	}
	want := "[false:hi false:hi false:hi false:reply false:reply false:reply false:reply false:reply true:还在吗 false:yes true:hello false:welcome]"
	if fmt.Sprint(texts) != want {
		t.Errorf("conversation\n got %v\nwant %s", texts, want)
	}
	if n, st := a.sb.TotalDelivered(), a.sb.Stats(); n != 10 || st.CustomSends != 10 {
		t.Errorf("TotalDelivered %d, CustomSends %d, want 10", n, st.CustomSends)
	}
}

func TestCustomSend_Errors(t *testing.T) {
	a := newAPI(t, Options{NewUsersUnfollowed: true})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()
	wantCode(t, "never followed", a.sendText(tok, zhang, "hi"), 45015, "response out of time limit")
	a.sb.SetFollowing(zhang, true)
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"empty body", " ", 44002, "empty post data"},
		{"not JSON", "{", 47001, "data format error"},
		{"unknown openid", `{"touser":"onobody","msgtype":"text","text":{"content":"x"}}`, 40003, "invalid openid"},
		{"no msgtype", `{"touser":"` + zhang + `","text":{"content":"x"}}`, 40008, "invalid message type"},
		{"unknown msgtype", `{"touser":"` + zhang + `","msgtype":"hologram"}`, 40008, "invalid message type"},
		{"media", `{"touser":"` + zhang + `","msgtype":"image","image":{"media_id":"MEDIA_ID"}}`, 40007, "invalid media_id"},
		{"empty text", `{"touser":"` + zhang + `","msgtype":"text","text":{"content":""}}`, 44004, "empty content"},
		{"text too long", `{"touser":"` + zhang + `","msgtype":"text","text":{"content":"` + strings.Repeat("a", 2049) + `"}}`, 45002, "content size out of limit"},
		{"no articles", `{"touser":"` + zhang + `","msgtype":"news","news":{"articles":[]}}`, 44003, "empty news data"},
		{"two articles", `{"touser":"` + zhang + `","msgtype":"news","news":{"articles":[{"title":"a"},{"title":"b"}]}}`, 45008, "article size out of limit"},
		{"news", `{"touser":"` + zhang + `","msgtype":"news","news":{"articles":[{"title":"周报","description":"本周摘要","url":"https://app.example/r"}]}}`, 0, "ok"},
		{"2048 bytes", `{"touser":"` + zhang + `","msgtype":"text","text":{"content":"` + strings.Repeat("a", 2048) + `"}}`, 0, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "", a.do("POST", "/cgi-bin/message/custom/send", tok, tt.body), tt.code, tt.msg)
		})
	}
	in := a.sb.Inbox(zhang)
	if len(in) != 2 || in[0].Kind != KindNews || in[0].Title != "周报" || in[0].URL != "https://app.example/r" {
		t.Errorf("inbox %+v", in)
	}
}

func TestFaults(t *testing.T) {
	a := newAPI(t, Options{Faults: Faults{ErrorRate: 1}})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()
	wantCode(t, "ErrorRate 1 template", a.sendTemplate(tok, statusBody(a.sb, zhang)), -1, "system error rid: ")
	wantCode(t, "ErrorRate 1 custom", a.sendText(tok, zhang, "hi"), -1, "system error rid: ")
	wantCode(t, "user/info unaffected", a.do("GET", "/cgi-bin/user/info?openid="+zhang+"&access_token="+url.QueryEscape(tok), "", ""), 0, "")

	a.sb.SetFaults(Faults{HTTP500Rate: 1, ErrorRate: 1})
	if r := a.sendTemplate(tok, statusBody(a.sb, zhang)); r.status != 500 {
		t.Errorf("HTTP500Rate 1: status %d %s", r.status, r.raw)
	}

	a.sb.SetFaults(Faults{PerSecondLimit: 2})
	for i := range 2 {
		wantCode(t, fmt.Sprint("within limit ", i), a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	}
	wantCode(t, "past the limit", a.sendTemplate(tok, statusBody(a.sb, zhang)), 45011, "api minute-quota reach limit")
	wantCode(t, "other API has its own count", a.sendText(tok, zhang, "hi"), 0, "ok")
	a.clk.Advance(time.Second)
	wantCode(t, "next second", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")

	// 3 template sends so far today; a quota of 5 admits 2 more.
	a.sb.SetFaults(Faults{DailyQuota: 5})
	for i := range 2 {
		wantCode(t, fmt.Sprint("within quota ", i), a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	}
	wantCode(t, "over quota", a.sendTemplate(tok, statusBody(a.sb, zhang)), 45009, "reach max api daily quota limit")
	a.sb.ResetQuota()
	wantCode(t, "after ResetQuota", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	for range 4 {
		a.sendTemplate(tok, statusBody(a.sb, zhang))
	}
	wantCode(t, "over quota again", a.sendTemplate(tok, statusBody(a.sb, zhang)), 45009, "reach max api daily quota limit")
	// The clock starts at 10:00 UTC, 18:00 in Beijing: 6 h to midnight there.
	a.clk.Advance(6 * time.Hour)
	tok = a.token()
	wantCode(t, "next Beijing day", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")

	st := a.sb.Stats()
	if st.Errors[-1] != 2 || st.HTTP500s != 1 || st.Errors[45011] != 1 || st.Errors[45009] != 2 || st.TemplateSends != 11 || st.TokenFetches != 2 {
		t.Errorf("stats %+v", st)
	}

	a.sb.SetFaults(Faults{Latency: 30 * time.Millisecond, ErrorRate: -3, HTTP500Rate: 7})
	if f := a.sb.Faults(); f.ErrorRate != 0 || f.HTTP500Rate != 1 {
		t.Errorf("rates not clamped: %+v", f)
	}
	a.sb.SetFaults(Faults{Latency: 30 * time.Millisecond})
	start := time.Now()
	wantCode(t, "with latency", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, before the 30ms latency", d)
	}
}

// TestTemplateSend_Concurrent: 50 senders at once, every message counted
// exactly once and every repeat answered with its first msgid.
func TestTemplateSend_Concurrent(t *testing.T) {
	a := newAPI(t, Options{Faults: Faults{Latency: time.Millisecond}})
	users := a.sb.Users()
	tok := a.token()
	const workers, each = 50, 100
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	msgids := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			openid := users[w%len(users)].OpenID
			for i := range each {
				b := statusBody(a.sb, openid)
				// Every 10th send repeats the previous one's client_msg_id.
				n := i
				if i%10 == 9 {
					n = i - 1
				}
				b["client_msg_id"] = fmt.Sprintf("w%d-%d", w, n)
				j, _ := json.Marshal(b)
				resp, err := client.Post(a.srv.URL+"/cgi-bin/message/template/send?access_token="+url.QueryEscape(tok), "application/json", strings.NewReader(string(j)))
				if err != nil {
					t.Error(err)
					return
				}
				var ok struct {
					ErrCode int   `json:"errcode"`
					MsgID   int64 `json:"msgid"`
				}
				err = json.NewDecoder(resp.Body).Decode(&ok)
				resp.Body.Close()
				if err != nil || ok.ErrCode != 0 {
					t.Errorf("send: %v %+v", err, ok)
					return
				}
				if i%10 == 9 && ok.MsgID != msgids[w][i-1] {
					t.Errorf("repeat got msgid %d, first send %d", ok.MsgID, msgids[w][i-1])
				}
				msgids[w] = append(msgids[w], ok.MsgID)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, ids := range msgids {
		for _, id := range ids {
			seen[id] = true
		}
	}
	const want = workers * each * 9 / 10
	kept := 0
	for _, u := range users {
		kept += len(a.sb.Inbox(u.OpenID))
	}
	if n := a.sb.TotalDelivered(); n != want || len(seen) != want || a.sb.Stats().TemplateSends != want || kept != len(users)*inboxCap {
		t.Errorf("TotalDelivered %d, distinct msgids %d, TemplateSends %d, inboxes keep %d; want %d, %d, %d, %d",
			n, len(seen), a.sb.Stats().TemplateSends, kept, want, want, want, len(users)*inboxCap)
	}
}

// TestTemplateSend_ConcurrentRepeats: all senders use the same few
// client_msg_ids for one user; exactly one message per id is delivered.
func TestTemplateSend_ConcurrentRepeats(t *testing.T) {
	a := newAPI(t, Options{})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()
	const workers, ids = 50, 20
	got := make([]map[string]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		got[w] = map[string]int64{}
		wg.Go(func() {
			for i := range ids {
				cid := fmt.Sprint("job-", i)
				b := statusBody(a.sb, zhang)
				b["client_msg_id"] = cid
				j, _ := json.Marshal(b)
				resp, err := http.Post(a.srv.URL+"/cgi-bin/message/template/send?access_token="+url.QueryEscape(tok), "application/json", strings.NewReader(string(j)))
				if err != nil {
					t.Error(err)
					return
				}
				var ok struct{ MsgID int64 }
				json.NewDecoder(resp.Body).Decode(&ok)
				resp.Body.Close()
				got[w][cid] = ok.MsgID
			}
		})
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for cid, id := range got[w] {
			if id != got[0][cid] || id == 0 {
				t.Fatalf("worker %d got msgid %d for %s, worker 0 got %d", w, id, cid, got[0][cid])
			}
		}
	}
	if n := a.sb.TotalDelivered(); n != ids || len(a.sb.Inbox(zhang)) != ids {
		t.Errorf("TotalDelivered %d, inbox %d, want %d", n, len(a.sb.Inbox(zhang)), ids)
	}
}

func TestInbox_Bounded(t *testing.T) {
	a := newAPI(t, Options{})
	zhang := a.sb.Users()[0].OpenID
	tok := a.token()
	for range 2*inboxCap + 5 {
		wantCode(t, "send", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	}
	in := a.sb.Inbox(zhang)
	if len(in) != inboxCap || a.sb.TotalDelivered() != 2*inboxCap+5 || in[len(in)-1].MsgID-in[0].MsgID != inboxCap-1 {
		t.Errorf("inbox %d (msgids %d…%d), total %d", len(in), in[0].MsgID, in[len(in)-1].MsgID, a.sb.TotalDelivered())
	}
}

func TestUserInfo(t *testing.T) {
	a := newAPI(t, Options{})
	zhang, lisi := a.sb.Users()[0], a.sb.Users()[1]
	a.clk.Advance(time.Hour)
	a.sb.SetFollowing(lisi.OpenID, false)
	tok := a.token()
	q := "&access_token=" + url.QueryEscape(tok)

	_, raw := a.call("GET", "/cgi-bin/user/info?lang=zh_CN&openid="+zhang.OpenID+q, "")
	want := fmt.Sprintf(`{"subscribe":1,"openid":"%s","language":"zh_CN","subscribe_time":%d,"remark":"","groupid":0,"tagid_list":[],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":0,"qr_scene_str":""}`,
		zhang.OpenID, zhang.Created.Unix())
	if strings.TrimSpace(raw) != want {
		t.Errorf("follower\n got %s\nwant %s", raw, want)
	}
	_, raw = a.call("GET", "/cgi-bin/user/info?openid="+lisi.OpenID+q, "")
	if want := `{"subscribe":0,"openid":"` + lisi.OpenID + `"}`; strings.TrimSpace(raw) != want {
		t.Errorf("non-follower\n got %s\nwant %s", raw, want)
	}
	wantCode(t, "unknown", a.do("GET", "/cgi-bin/user/info?openid=onobody"+q, "", ""), 40003, "invalid openid")
	wantCode(t, "no openid", a.do("GET", "/cgi-bin/user/info?lang=zh_CN"+q, "", ""), 41009, "missing openid")

	batch := func(openids ...string) string {
		var l []map[string]string
		for _, o := range openids {
			l = append(l, map[string]string{"openid": o, "lang": "zh_CN"})
		}
		b, _ := json.Marshal(map[string]any{"user_list": l})
		return string(b)
	}
	r := a.do("POST", "/cgi-bin/user/info/batchget", tok, batch(zhang.OpenID, lisi.OpenID))
	var got struct {
		List []map[string]any `json:"user_info_list"`
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil || len(got.List) != 2 ||
		got.List[0]["subscribe"] != 1.0 || got.List[0]["openid"] != zhang.OpenID ||
		len(got.List[1]) != 2 || got.List[1]["subscribe"] != 0.0 {
		t.Errorf("batchget: %s", r.raw)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = zhang.OpenID
	}
	wantCode(t, "101 users", a.do("POST", "/cgi-bin/user/info/batchget", tok, batch(many...)), 40032, "invalid openid list size")
	wantCode(t, "100 users", a.do("POST", "/cgi-bin/user/info/batchget", tok, batch(many[:100]...)), 0, "")
	wantCode(t, "no users", a.do("POST", "/cgi-bin/user/info/batchget", tok, `{"user_list":[]}`), 40032, "invalid openid list size")
	wantCode(t, "unknown user", a.do("POST", "/cgi-bin/user/info/batchget", tok, batch(zhang.OpenID, "onobody")), 40003, "invalid openid")
	wantCode(t, "bad JSON", a.do("POST", "/cgi-bin/user/info/batchget", tok, `{"user_list":`), 47001, "data format error")
}

func TestTemplates(t *testing.T) {
	a := newAPI(t, Options{})
	tok := a.token()
	_, raw := a.call("GET", "/cgi-bin/template/get_all_private_template?access_token="+url.QueryEscape(tok), "")
	var got struct {
		List []struct {
			TemplateID              string `json:"template_id"`
			Title, Content, Example string
			PrimaryIndustry         string `json:"primary_industry"`
			DeputyIndustry          string `json:"deputy_industry"`
		} `json:"template_list"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got.List) != 3 {
		t.Fatalf("templates: %s", raw)
	}
	idRE := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	for _, tm := range got.List {
		if !idRE.MatchString(tm.TemplateID) || tm.TemplateID != TemplateID(appID, tm.Title) || !strings.Contains(tm.Content, ".DATA}}") || tm.Example == "" || tm.PrimaryIndustry == "" {
			t.Errorf("template %+v", tm)
		}
	}
	if got.List[1].Title != "订单发货提醒" || got.List[1].Content != "订单号:{{character_string1.DATA}}\n商品名称:{{thing2.DATA}}\n订单金额:{{amount3.DATA}}" {
		t.Errorf("second sample: %+v", got.List[1])
	}

	added, err := a.sb.AddTemplate("工单提醒", "工单类型:{{const3.DATA}}\r\n工单名称: {{ thing1.DATA }}")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(added.Keys()) != "[const3 thing1]" || added.ID != TemplateID(appID, "工单提醒") || len(a.sb.Templates()) != 4 {
		t.Errorf("added %+v keys %v", added, added.Keys())
	}
	if again, err := a.sb.AddTemplate("工单提醒", "工单类型:{{const3.DATA}}\n工单名称: {{ thing1.DATA }}"); err != nil || again.ID != added.ID || len(a.sb.Templates()) != 4 {
		t.Errorf("same template again: %v", err)
	}
	for _, bad := range []struct{ title, content string }{
		{"", "{{a.DATA}}"},
		{"无占位符", "只有文字"},
		{"坏占位符", "名称：{{name}}"},
		{"坏占位符2", "名称：{{na-me.DATA}}"},
		{"不成对", "名称：{{thing1.DATA}"},
		{"重复", "{{thing1.DATA}}{{thing1.DATA}}"},
		{"工单提醒", "别的内容 {{thing1.DATA}}"},
	} {
		if _, err := a.sb.AddTemplate(bad.title, bad.content); err == nil {
			t.Errorf("AddTemplate(%q, %q) succeeded", bad.title, bad.content)
		}
	}
	// A new sandbox for the same app knows the same ids.
	b, _ := newSandbox(t, Options{})
	if b.Templates()[0].ID != a.sb.Templates()[0].ID {
		t.Error("template ids differ between sandboxes")
	}
	// Up to 25 templates.
	for i := len(a.sb.Templates()); i < maxTemplates; i++ {
		if _, err := a.sb.AddTemplate(fmt.Sprint("模板", i), "{{keyword1.DATA}}"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.sb.AddTemplate("第26个", "{{keyword1.DATA}}"); err == nil {
		t.Error("26th template accepted")
	}
}

func TestValidValue(t *testing.T) {
	tests := []struct {
		typ, v string
		ok     bool
	}{
		{"thing", strings.Repeat("字", 20), true},
		{"thing", strings.Repeat("字", 21), false},
		{"thing", "Backup #3 of 5", true},
		{"phrase", "配送中", true},
		{"phrase", "配送中了吗啊啊", false},
		{"phrase", "ok", false},
		{"character_string", "SN-2025/03_01", true},
		{"character_string", strings.Repeat("a", 33), false},
		{"character_string", "订单1", false},
		{"number", "39.80", true},
		{"number", "3a", false},
		{"letter", "ABC", true},
		{"letter", "AB1", false},
		{"symbol", "%", true},
		{"symbol", "%%%%%%", false},
		{"amount", "¥39.80", true},
		{"amount", "39.8元", true},
		{"amount", "￥12345678901", false},
		{"amount", "三十元", false},
		{"time", "15:01", true},
		{"time", "2019年10月1日 15:01", true},
		{"time", "2019-10-01 15:01~16:00", true},
		{"time", "25:00", false},
		{"time", "2019年10月1日", false},
		{"date", "2019年10月1日", true},
		{"date", "2019-10-01 15:01", true},
		{"date", "10月1日~10月7日", true},
		{"date", "2019-13-01", false},
		{"date", "明天", false},
		{"phone_number", "+86-0766-66888866", true},
		{"phone_number", "123456789012345678", false},
		{"car_number", "粤A8Z888挂", true},
		{"car_number", "A粤8Z888", false},
		{"car_number", "粤A8Z8888挂", false},
		{"name", "欧阳娜娜", true},
		{"name", "John Smith", true},
		{"name", "一二三四五六七八九十一", false},
		{"const", "已发货", true},
		{"keyword", strings.Repeat("长", 200), true},
	}
	for _, tt := range tests {
		if got := validValue(tt.typ, tt.v); got != tt.ok {
			t.Errorf("validValue(%s, %q) = %v, want %v", tt.typ, tt.v, got, tt.ok)
		}
	}
	if got := stripEmoji("完成✅👍🏻 ⭐ok"); got != "完成 ok" {
		t.Errorf("stripEmoji = %q", got)
	}
}

func TestPhonePage_Conversation(t *testing.T) {
	sb, clk := newSandbox(t, Options{PathPrefix: "/sandbox"})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a := &api{t, sb, clk, httptest.NewServer(sb)}
	defer a.srv.Close()
	c := browser(t)
	zhang := sb.Users()[0].OpenID
	phone := srv.URL + "/sandbox/phone/" + zhang
	tok := a.token()

	b := statusBody(sb, zhang)
	b["data"].(map[string]any)["thing1"] = map[string]string{"value": "<b>备份</b>&恢复"}
	wantCode(t, "template", a.sendTemplate(tok, b), 0, "ok")
	resp := post(t, c, phone+"/say", url.Values{"text": {"你好 <script>"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sandbox/phone/"+zhang {
		t.Fatalf("say: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	wantCode(t, "reply", a.sendText(tok, zhang, "收到 & 谢谢"), 0, "ok")

	status, page := get(t, c, phone)
	in := sb.Inbox(zhang)
	if status != 200 || len(in) != 3 {
		t.Fatalf("status %d, inbox %+v", status, in)
	}
	for _, want := range []string{
		`<ul id="messages" class="chat">`,
		`<li class="msg msg-template" data-msgid="` + strconv.FormatInt(in[0].MsgID, 10) + `">`,
		`<div class="ttitle">服务状态通知</div>`,
		`<span class="label">服务名称</span> <span class="value">&lt;b&gt;备份&lt;/b&gt;&amp;恢复</span>`,
		`<span class="label">状态</span> <span class="value">已完成</span>`,
		`<span class="value">2025年3月1日 10:00</span>`,
		// 详情 opens the link in the phone's browser; the card shows it.
		`href="/sandbox/phone/` + zhang + `/web?url=https%3A%2F%2Fapp.example%2Fm%2F1" data-url="https://app.example/m/1"><span>详情</span>`,
		`<div class="tlink" title="https://app.example/m/1">https://app.example/m/1</div>`,
		`<li class="msg msg-text msg-mine" data-msgid="` + strconv.FormatInt(in[1].MsgID, 10) + `">`,
		`<div class="bubble">你好 &lt;script&gt;</div>`,
		`<li class="msg msg-text" data-msgid="` + strconv.FormatInt(in[2].MsgID, 10) + `">`,
		`<div class="bubble">收到 &amp; 谢谢</div>`,
		`id="cs-window"`,
		`发消息给公众号`,
		`id="unfollow"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("phone page lacks %s", want)
		}
	}
	if strings.Contains(page, "暂无消息") || strings.Contains(page, "<b>备份") {
		t.Error("phone page shows 暂无消息 or unescaped data")
	}
	if i, j := strings.Index(page, "服务状态通知</div>"), strings.Index(page, "收到 &amp; 谢谢"); i < 0 || j < i {
		t.Error("messages not oldest first")
	}

	// Unfollow, then follow again, with the phone's buttons.
	resp = post(t, c, phone+"/unfollow", nil)
	if u, _ := sb.User(zhang); resp.StatusCode != http.StatusSeeOther || u.Following {
		t.Fatalf("unfollow: %d, following %v", resp.StatusCode, u.Following)
	}
	_, page = get(t, c, phone)
	if !strings.Contains(page, `id="follow"`) || !strings.Contains(page, "未关注公众号") || strings.Contains(page, `id="say-text"`) {
		t.Errorf("unfollowed phone page:\n%s", page)
	}
	resp = post(t, c, phone+"/say", url.Values{"text": {"在吗"}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("say while unfollowed: %d", resp.StatusCode)
	}
	wantCode(t, "template to unfollower", a.sendTemplate(tok, statusBody(sb, zhang)), 43004, "require subscribe")
	clk.Advance(time.Hour)
	resp = post(t, c, phone+"/follow", nil)
	if u, _ := sb.User(zhang); resp.StatusCode != http.StatusSeeOther || !u.Following || !u.SubscribeTime.Equal(clk.Now()) {
		t.Fatalf("follow: %d, %+v", resp.StatusCode, u)
	}
	if resp := post(t, c, srv.URL+"/sandbox/phone/onobody/follow", nil); resp.StatusCode != 404 {
		t.Errorf("follow unknown user: %d", resp.StatusCode)
	}
}

func TestHomePage_Controls(t *testing.T) {
	a := newAPI(t, Options{})
	c := browser(t)
	zhang := a.sb.Users()[0].OpenID

	status, page := get(t, c, a.srv.URL+"/")
	for _, want := range []string{`id="templates"`, TemplateID(appID, "服务状态通知"), `id="faults-form"`, `id="invalidate-tokens"`, "使令牌失效", `id="reset-quota"`, `id="add-template"`} {
		if !strings.Contains(page, want) {
			t.Errorf("home (status %d) lacks %s", status, want)
		}
	}

	resp := post(t, c, a.srv.URL+"/faults", url.Values{"latency_ms": {"20"}, "error_pct": {"5"}, "http500_pct": {""}, "per_second": {"100"}, "daily_quota": {"1000"}})
	want := Faults{Latency: 20 * time.Millisecond, ErrorRate: 0.05, PerSecondLimit: 100, DailyQuota: 1000}
	if resp.StatusCode != http.StatusSeeOther || a.sb.Faults() != want {
		t.Errorf("set faults: %d %+v", resp.StatusCode, a.sb.Faults())
	}
	_, page = get(t, c, a.srv.URL+"/")
	if !strings.Contains(page, `name="latency_ms" min="0" max="60000" step="any" value="20"`) {
		t.Error("home does not show the latency set")
	}
	if resp := post(t, c, a.srv.URL+"/faults", url.Values{"error_pct": {"150"}}); resp.StatusCode != 400 || a.sb.Faults() != want {
		t.Errorf("bad faults: %d %+v", resp.StatusCode, a.sb.Faults())
	}
	post(t, c, a.srv.URL+"/faults", url.Values{"daily_quota": {"1"}})

	tok := a.token()
	wantCode(t, "first", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	wantCode(t, "over quota", a.sendTemplate(tok, statusBody(a.sb, zhang)), 45009, "reach max api daily quota limit")
	if resp := post(t, c, a.srv.URL+"/quota/reset", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("reset quota: %d", resp.StatusCode)
	}
	wantCode(t, "after reset", a.sendTemplate(tok, statusBody(a.sb, zhang)), 0, "ok")
	post(t, c, a.srv.URL+"/tokens/invalidate", nil)
	wantCode(t, "after invalidate", a.sendTemplate(tok, statusBody(a.sb, zhang)), 40001, "invalid credential")

	resp = post(t, c, a.srv.URL+"/templates", url.Values{"title": {"到货通知"}, "content": {"商品:{{thing1.DATA}}\n到货时间:{{time2.DATA}}"}})
	if resp.StatusCode != http.StatusSeeOther || len(a.sb.Templates()) != 4 {
		t.Errorf("add template: %d", resp.StatusCode)
	}
	resp = post(t, c, a.srv.URL+"/templates", url.Values{"title": {"坏模板"}, "content": {"商品:{{thing1}}"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `id="problem"`) || !strings.Contains(string(body), "商品:{{thing1}}") {
		t.Errorf("bad template: %d\n%s", resp.StatusCode, body)
	}
	_, page = get(t, c, a.srv.URL+"/")
	if !strings.Contains(page, "到货通知") || !strings.Contains(page, `<td id="total-delivered">2</td>`) {
		t.Error("home lacks the new template or the delivery count")
	}
}

// BenchmarkTemplateSend: template sends over HTTP from 50 concurrent
// senders, as the app's outbox would make them; -latency adds injected
// latency. Reports sends per second.
func BenchmarkTemplateSend(b *testing.B) {
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprint("latency=", lat), func(b *testing.B) {
			sb, err := New(Options{AppID: appID, AppSecret: secret, Faults: Faults{Latency: lat}})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(sb)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/cgi-bin/token?grant_type=client_credential&appid=" + appID + "&secret=" + secret)
			if err != nil {
				b.Fatal(err)
			}
			var tok tokenJSON
			json.NewDecoder(resp.Body).Decode(&tok)
			resp.Body.Close()
			target := srv.URL + "/cgi-bin/message/template/send?access_token=" + url.QueryEscape(tok.AccessToken)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			users := sb.Users()
			var seq atomic.Int64
			b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)+1))
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					body := statusBody(sb, users[n%int64(len(users))].OpenID)
					body["client_msg_id"] = fmt.Sprint("bench-", n)
					j, _ := json.Marshal(body)
					resp, err := client.Post(target, "application/json", bytes.NewReader(j))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
			if sb.TotalDelivered() != b.N {
				b.Errorf("delivered %d of %d", sb.TotalDelivered(), b.N)
			}
		})
	}
}

// The home page's fault form turns ReceiptFirst on and off, and refuses a
// value a checkbox cannot send.
func TestHomePage_ReceiptFirstCheckbox(t *testing.T) {
	a := newAPI(t, Options{})
	c := browser(t)
	const box = `<input type="checkbox" id="receipt-first" name="receipt_first"`
	if _, page := get(t, c, a.srv.URL+"/"); !strings.Contains(page, box+">") {
		t.Fatalf("home lacks the unchecked receipt-first box:\n%s", page)
	}
	if resp := post(t, c, a.srv.URL+"/faults", url.Values{"receipt_first": {"on"}, "per_second": {"5"}}); resp.StatusCode != http.StatusSeeOther ||
		a.sb.Faults() != (Faults{ReceiptFirst: true, PerSecondLimit: 5}) {
		t.Fatalf("set receipt first: %d %+v", resp.StatusCode, a.sb.Faults())
	}
	if _, page := get(t, c, a.srv.URL+"/"); !strings.Contains(page, box+" checked>") {
		t.Error("home does not show receipt-first as checked")
	}
	resp := post(t, c, a.srv.URL+"/faults", url.Values{"receipt_first": {"yes"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !a.sb.Faults().ReceiptFirst || !strings.Contains(string(body), "回执先到为勾选项") {
		t.Errorf("bad receipt_first: %d %+v", resp.StatusCode, a.sb.Faults())
	}
	if resp := post(t, c, a.srv.URL+"/faults", url.Values{}); resp.StatusCode != http.StatusSeeOther || a.sb.Faults() != (Faults{}) {
		t.Errorf("unchecked: %d %+v", resp.StatusCode, a.sb.Faults())
	}
}
