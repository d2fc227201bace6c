package service_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// fixture is the rules over a real SQLite file: users, some bound, and
// two templates. No WeChat: sending only queues.
type fixture struct {
	st  *store.Store
	svc *service.Service
	ids map[string]int64
}

const (
	freeTpl  = "TPL_FREE"  // {{title.DATA}} {{content.DATA}}
	thingTpl = "TPL_THING" // {{thing1.DATA}} {{phrase2.DATA}}
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetBcryptCost(bcrypt.MinCost)
	f := &fixture{st: st, ids: map[string]int64{}}
	f.svc = service.New(service.Deps{Store: st}, service.Config{AutoReply: "自动回复"})
	for i, name := range []string{"alice", "bob", "carol", "unbound"} {
		u, err := st.CreateUser(ctx, name, "password-"+name, i == 0, false)
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = u.ID
		if name == "unbound" {
			continue
		}
		tok, _, err := st.NewBindToken(ctx, u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteBinding(ctx, tok, store.Binding{OpenID: "openid-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ReplaceTemplates(ctx, []store.Template{
		{ID: freeTpl, Title: "消息通知", Content: "标题：{{title.DATA}}\n内容：{{content.DATA}}"},
		{ID: thingTpl, Title: "状态提醒", Content: "事项：{{thing1.DATA}}\n状态：{{phrase2.DATA}}"},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) messages(t *testing.T) []store.Message {
	t.Helper()
	ms, err := f.st.Messages(context.Background(), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestSend_BadRequestsAreRefusedAndStoreNothing(t *testing.T) {
	f := newFixture(t)
	data := map[string]string{"title": "t", "content": "c"}
	with := func(k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range data {
			out[a] = b
		}
		return out
	}
	tests := []struct {
		name   string
		req    service.SendRequest
		code   service.Code
		reason string
		field  string
	}{
		{"no kind", service.SendRequest{All: true}, service.EInvalid, "invalid_request", "kind"},
		{"empty text", service.SendRequest{Kind: store.KindText, Text: "  ", All: true}, service.EInvalid, "invalid_request", "text"},
		{"text over 64 KB", service.SendRequest{Kind: store.KindText, Text: strings.Repeat("x", service.MaxContentBytes+1), All: true}, service.ETooLarge, "too_large", "text"},
		{"bad utf-8", service.SendRequest{Kind: store.KindText, Text: "\xff\xfe", All: true}, service.EInvalid, "invalid_request", "text"},
		{"no recipients", service.SendRequest{Kind: store.KindText, Text: "hi"}, service.EInvalid, "invalid_request", "to"},
		{"unknown user", service.SendRequest{Kind: store.KindText, Text: "hi", UserNames: []string{"ghost"}}, service.ENotFound, "unknown_user", "to"},
		{"unknown user and bad content", service.SendRequest{Kind: store.KindText, Text: "", UserNames: []string{"ghost", "alice"}}, service.ENotFound, "unknown_user", "to"},
		{"unbound user", service.SendRequest{Kind: store.KindText, Text: "hi", UserNames: []string{"unbound"}}, service.EConflict, "not_bound", "to"},
		{"unbound user by id", service.SendRequest{Kind: store.KindText, Text: "hi", UserIDs: []int64{f.ids["unbound"]}}, service.EConflict, "not_bound", "to"},
		{"unbound user and bad content", service.SendRequest{Kind: store.KindText, Text: "", UserNames: []string{"unbound"}}, service.EInvalid, "invalid_request", "text"},
		{"no template", service.SendRequest{Kind: store.KindTemplate, All: true}, service.EInvalid, "invalid_request", "template"},
		{"unknown template", service.SendRequest{Kind: store.KindTemplate, TemplateID: "nope", All: true}, service.EInvalid, "invalid_request", "template"},
		{"missing field", service.SendRequest{Kind: store.KindTemplate, TemplateID: freeTpl, Data: map[string]string{"title": "t"}, All: true}, service.EInvalid, "invalid_request", "data.content"},
		{"unknown field", service.SendRequest{Kind: store.KindTemplate, TemplateID: freeTpl, Data: with("bogus", "x"), All: true}, service.EInvalid, "invalid_request", "data.bogus"},
		{"field rule", service.SendRequest{Kind: store.KindTemplate, TemplateID: thingTpl, Data: map[string]string{"thing1": "x", "phrase2": "abc"}, All: true}, service.EInvalid, "invalid_request", "data.phrase2"},
		{"bad url", service.SendRequest{Kind: store.KindTemplate, TemplateID: freeTpl, Data: data, URL: "javascript:alert(1)", All: true}, service.EInvalid, "invalid_request", "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Send(context.Background(), service.CLIActor, tt.req)
			e := service.AsError(err)
			if err == nil || e.Code != tt.code || e.Reason != tt.reason {
				t.Fatalf("err = %v, want %s/%s", err, tt.code, tt.reason)
			}
			if e.Fields[tt.field] == "" {
				t.Errorf("no message for %s: %v", tt.field, e.Fields)
			}
		})
	}
	if ms := f.messages(t); len(ms) != 0 {
		t.Errorf("%d messages stored from bad requests", len(ms))
	}
}

func TestSend_QueuesOnceForEachRecipientAndAuditsWithTheMessage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	by := service.Actor{Name: "api:ci", Via: "api"}
	m, err := f.svc.Send(ctx, by, service.SendRequest{Kind: store.KindTemplate, TemplateID: thingTpl,
		Data: map[string]string{"phrase2": "已完成", "thing1": "部署"}, UserNames: []string{"alice", "bob", "alice"}, UserIDs: []int64{f.ids["bob"]}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != 2 || m.Source != "api" {
		t.Fatalf("message %+v, want 2 recipients (duplicates dropped), source api", m)
	}
	log, err := f.st.AuditLog(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Actor != "api:ci" || log[0].Action != "message.send" {
		t.Fatalf("audit %+v, want one message.send by api:ci", log)
	}
	// The summary follows the template's field order, not the map's.
	if want := "部署 · 已完成"; !strings.Contains(log[0].Detail, want) {
		t.Errorf("audit detail %q, want it to hold %q", log[0].Detail, want)
	}

	// Personal push URLs are not audited (a script may push every minute).
	if _, err := f.svc.Send(ctx, service.Actor{UserID: f.ids["bob"], Name: "bob", Via: "sendkey"},
		service.SendRequest{Kind: store.KindText, Text: "hi", UserIDs: []int64{f.ids["bob"]}}); err != nil {
		t.Fatal(err)
	}
	if log, _ := f.st.AuditLog(ctx, 10); len(log) != 1 {
		t.Errorf("%d audit entries after a push URL send, want still 1", len(log))
	}
}

func TestSummary_IsStable(t *testing.T) {
	f := newFixture(t)
	m := store.Message{Kind: store.KindTemplate, TemplateID: thingTpl,
		Data: map[string]string{"zz": "3", "phrase2": "2", "thing1": "1", "aa": "0"}}
	for range 20 {
		if got := f.svc.Summary(context.Background(), m); got != "1 · 2 · 0 · 3" {
			t.Fatalf("summary %q, want template order then name order", got)
		}
	}
}

func TestPushToUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob, _ := f.st.UserByID(ctx, f.ids["bob"])

	// Until an admin chooses, a template with title and content is used.
	m, err := f.svc.PushToUser(ctx, bob, service.Push{Title: "部署完成", Content: ""})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.MessageContent(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TemplateID != freeTpl || got.Data["title"] != "部署完成" || got.Data["content"] != "部署完成" {
		t.Errorf("queued %+v, want the free template with the title as content too", got)
	}

	// A thing field takes 20 characters: a longer title is cut, marked.
	if err := f.svc.SetSendKeyTemplate(ctx, service.UserActor(bob), service.SendKeyTemplate{TemplateID: thingTpl, TitleKey: "thing1", ContentKey: "phrase2"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("长", 30)
	if m, err = f.svc.PushToUser(ctx, bob, service.Push{Title: long, Content: "完成"}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.st.MessageContent(ctx, m.ID)
	if want := strings.Repeat("长", 19) + "…"; got.Data["thing1"] != want {
		t.Errorf("thing1 = %q, want %q", got.Data["thing1"], want)
	}

	tests := []struct {
		name   string
		user   string
		push   service.Push
		code   service.Code
		reason string
		field  string
	}{
		{"no title", "bob", service.Push{Content: "x"}, service.EInvalid, "invalid_request", "title"},
		{"bad url", "bob", service.Push{Title: "x", Content: "完成", URL: "ftp://x"}, service.EInvalid, "invalid_request", "url"},
		{"content breaks the field's rule", "bob", service.Push{Title: "x", Content: "not chinese"}, service.EInvalid, "invalid_request", "content"},
		{"unbound", "unbound", service.Push{Title: "x", Content: "完成"}, service.EConflict, "not_bound", "to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := f.st.UserByID(ctx, f.ids[tt.user])
			_, err := f.svc.PushToUser(ctx, u, tt.push)
			e := service.AsError(err)
			if err == nil || e.Code != tt.code || e.Reason != tt.reason || e.Fields[tt.field] == "" {
				t.Fatalf("err = %v, want %s/%s on %s", err, tt.code, tt.reason, tt.field)
			}
		})
	}
	if err := f.svc.SetSendKeyTemplate(ctx, service.UserActor(bob), service.SendKeyTemplate{TemplateID: thingTpl, TitleKey: "thing1", ContentKey: "thing1"}); service.ErrorCode(err) != service.EInvalid {
		t.Errorf("title and content in one field: err = %v, want EInvalid", err)
	}
}

func TestPushToUser_WithoutTemplate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.ReplaceTemplates(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bob, _ := f.st.UserByID(ctx, f.ids["bob"])
	_, err := f.svc.PushToUser(ctx, bob, service.Push{Title: "x"})
	if e := service.AsError(err); e.Code != service.EUnavailable || e.Reason != "no_template" {
		t.Fatalf("err = %v, want unavailable/no_template", err)
	}
}

func TestSendKeyOwner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key, err := f.st.RotateSendKey(ctx, f.ids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	if u, err := f.svc.SendKeyOwner(ctx, key); err != nil || u.Name != "bob" {
		t.Fatalf("owner = %v, %v; want bob", u.Name, err)
	}
	for _, k := range []string{"", "nope", store.SendKeyPrefix + "unknown", key + strings.Repeat("x", 64)} {
		if _, err := f.svc.SendKeyOwner(ctx, k); service.AsError(err).Reason != "unknown_key" {
			t.Errorf("key %q: err = %v, want unknown_key", k, err)
		}
	}
}

func TestSignup(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetBcryptCost(bcrypt.MinCost)
	svc := service.New(service.Deps{Store: st}, service.Config{})

	first, err := svc.Signup(ctx, " root ", "long-password", "long-password")
	if err != nil || !first.IsAdmin || first.Name != "root" {
		t.Fatalf("first sign-up = %+v, %v; want admin root", first, err)
	}
	tests := []struct {
		name, user, pw, pw2 string
		code                service.Code
	}{
		{"taken", "root", "long-password", "long-password", service.EConflict},
		{"short password", "bob", "short", "short", service.EInvalid},
		{"mismatch", "bob", "long-password", "long-passwore", service.EInvalid},
		{"bad name", "b", "long-password", "long-password", service.EInvalid},
		{"too long password", "bob", strings.Repeat("x", 73), strings.Repeat("x", 73), service.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Signup(ctx, tt.user, tt.pw, tt.pw2)
			if e := service.AsError(err); err == nil || e.Code != tt.code || e.Message == "" {
				t.Fatalf("err = %v, want %s with a message", err, tt.code)
			}
		})
	}
	second, err := svc.Signup(ctx, "bob", "long-password", "long-password")
	if err != nil || second.IsAdmin {
		t.Fatalf("second sign-up = %+v, %v; want a plain user", second, err)
	}
	if err := svc.SetSignupOpen(ctx, service.UserActor(first), false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Signup(ctx, "carol", "long-password", "long-password"); service.ErrorCode(err) != service.EForbidden {
		t.Fatalf("sign-up while closed: err = %v, want forbidden", err)
	}
	if log, _ := st.AuditLog(ctx, 10); len(log) != 1 || log[0].Action != "signup.toggle" {
		t.Errorf("audit %+v, want the sign-up toggle", log)
	}
	if _, err := svc.Login(ctx, "bob", "wrong-password"); service.ErrorCode(err) != service.EUnauthorized {
		t.Errorf("login with a wrong password: err = %v, want unauthorized", err)
	}
	if u, err := svc.Login(ctx, "bob", "long-password"); err != nil || u.ID != second.ID {
		t.Errorf("login = %+v, %v", u, err)
	}
}

func TestHandleInbound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().Unix()
	text := func(id int64, openid, content string) wechat.Inbound {
		return wechat.Inbound{FromUserName: openid, ToUserName: "gh_x", CreateTime: now, MsgType: "text", Content: content, MsgID: id}
	}
	tests := []struct {
		name string
		in   wechat.Inbound
		want string // part of the reply; "" for no reply
	}{
		{"status of a bound user", text(1, "openid-bob", "状态"), "已绑定账号「bob」"},
		{"status of a stranger", text(2, "openid-x", " 状态 "), "还没有绑定账号"},
		{"bind keyword", text(3, "openid-x", "绑定"), "/bind"},
		{"anything else", text(4, "openid-x", "你好"), "自动回复"},
		{"a retry of the same message", text(4, "openid-x", "你好"), ""},
		{"welcome back", wechat.Inbound{FromUserName: "openid-bob", CreateTime: now, MsgType: "event", Event: "subscribe"}, "欢迎回来"},
		{"a new follower", wechat.Inbound{FromUserName: "openid-y", CreateTime: now + 1, MsgType: "event", Event: "subscribe"}, "感谢关注"},
		{"scan with a bad scene", wechat.Inbound{FromUserName: "openid-y", CreateTime: now + 2, MsgType: "event", Event: "SCAN", EventKey: "bind_!!"}, "二维码无效"},
		{"scan with an unknown code", wechat.Inbound{FromUserName: "openid-y", CreateTime: now + 3, MsgType: "event", Event: "SCAN", EventKey: "bind_abc"}, "二维码无效"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.HandleInbound(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("reply %q, want one holding %q", got, tt.want)
			}
		})
	}
}

func TestHandleInbound_OneScanBinds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, _, err := f.st.NewBindToken(ctx, f.ids["unbound"], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	scan := wechat.Inbound{FromUserName: "openid-new", CreateTime: time.Now().Unix(), MsgType: "event", Event: "subscribe", EventKey: "qrscene_bind_" + tok}
	reply, err := f.svc.HandleInbound(ctx, scan)
	if err != nil || !strings.Contains(reply, "已绑定账号「unbound」") {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if b, err := f.svc.Binding(ctx, f.ids["unbound"]); err != nil || b.OpenID != "openid-new" {
		t.Fatalf("binding %+v, %v", b, err)
	}
	// The same code scanned again by another WeChat: used.
	scan.FromUserName, scan.CreateTime, scan.Event, scan.EventKey = "openid-other", scan.CreateTime+1, "SCAN", "bind_"+tok
	if reply, _ := f.svc.HandleInbound(ctx, scan); !strings.Contains(reply, "用过了") {
		t.Errorf("second scan: reply %q", reply)
	}
	// A WeChat bound elsewhere cannot take a second account.
	tok2, _, _ := f.st.NewBindToken(ctx, f.ids["alice"], time.Minute)
	if err := f.svc.Unbind(ctx, store.User{ID: f.ids["alice"]}); err != nil {
		t.Fatal(err)
	}
	scan.FromUserName, scan.CreateTime, scan.EventKey = "openid-bob", scan.CreateTime+1, "bind_"+tok2
	if reply, _ := f.svc.HandleInbound(ctx, scan); !strings.Contains(reply, "另一个账号") {
		t.Errorf("scan by a WeChat bound to bob: reply %q", reply)
	}
}

func TestAPITokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	by := service.Actor{UserID: f.ids["alice"], Name: "alice", Via: "dashboard"}
	for _, name := range []string{"", "  ", strings.Repeat("名", 65)} {
		if _, _, err := f.svc.CreateAPIToken(ctx, by, name); service.ErrorCode(err) != service.EInvalid {
			t.Errorf("name %q: err = %v, want invalid", name, err)
		}
	}
	tok, rec, err := f.svc.CreateAPIToken(ctx, by, " CI ")
	if err != nil || rec.Name != "CI" {
		t.Fatalf("create = %+v, %v", rec, err)
	}
	if _, err := f.svc.AuthenticateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x", "999"} {
		if err := f.svc.RevokeAPIToken(ctx, by, id); service.ErrorCode(err) != service.ENotFound {
			t.Errorf("revoke %q: err = %v, want not found", id, err)
		}
	}
	id := rec.ID
	if err := f.svc.RevokeAPIToken(ctx, by, strconv.FormatInt(id, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateAPIToken(ctx, tok); service.ErrorCode(err) != service.EUnauthorized {
		t.Errorf("revoked token: err = %v, want unauthorized", err)
	}
	log, _ := f.st.AuditLog(ctx, 10)
	if len(log) != 2 || log[0].Action != "token.revoke" || log[1].Action != "token.create" || strings.Contains(log[0].Detail+log[1].Detail, tok) {
		t.Errorf("audit %+v, want create and revoke, without the token", log)
	}
}
