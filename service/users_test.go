package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// withClock gives the fixture's service and store one clock tests move.
func (f *fixture) withClock() *testClock {
	c := &testClock{t: time.Now()}
	f.st.SetClock(c.Now)
	f.svc = service.New(service.Deps{Store: f.st, Now: c.Now}, service.Config{})
	return c
}

func (f *fixture) user(t *testing.T, name string) store.User {
	t.Helper()
	u, err := f.st.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) actor(t *testing.T, name string) service.Actor {
	return service.UserActor(f.user(t, name))
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob := f.user(t, "bob")
	keep, _, _ := f.st.CreateSession(ctx, bob.ID, "", "")
	other, _, _ := f.st.CreateSession(ctx, bob.ID, "", "")
	cur, _ := f.st.AuthenticateSession(ctx, keep, "")
	tests := []struct {
		name                  string
		current, next, repeat string
		code                  service.Code
		field                 string
	}{
		{"no current password", "", "new-password", "new-password", service.EInvalid, "current"},
		{"too short", "password-bob", "short", "short", service.EInvalid, "password"},
		{"too long", "password-bob", strings.Repeat("长", 25), strings.Repeat("长", 25), service.EInvalid, "password"},
		{"repeat differs", "password-bob", "new-password", "new-passw0rd", service.EInvalid, "password"},
		{"same as now", "password-bob", "password-bob", "password-bob", service.EInvalid, "password"},
		{"wrong current password", "password-bo", "new-password", "new-password", service.EInvalid, "current"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.ChangePassword(ctx, bob, cur.ID, tt.current, tt.next, tt.repeat)
			if e := service.AsError(err); err == nil || e.Code != tt.code || e.Fields[tt.field] == "" {
				t.Fatalf("err = %v, want %s on %s", err, tt.code, tt.field)
			}
			if _, err := f.st.AuthenticateSession(ctx, other, ""); err != nil {
				t.Fatal("a refused change ended a session")
			}
		})
	}
	n, err := f.svc.ChangePassword(ctx, bob, cur.ID, "password-bob", "new-password", "new-password")
	if err != nil || n != 1 {
		t.Fatalf("change: %d, %v", n, err)
	}
	if _, err := f.st.AuthenticateSession(ctx, other, ""); err == nil {
		t.Error("the other session survived the change")
	}
	if _, err := f.svc.Login(ctx, "bob", "new-password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "password.change" || log[0].Actor != "bob" || strings.Contains(log[0].Detail, "new-password") {
		t.Errorf("audit %+v", log)
	}
}

// Guessing the current password through a stolen session is slowed down:
// five attempts, then one every three minutes.
func TestChangePassword_AttemptsAreLimited(t *testing.T) {
	f := newFixture(t)
	c := f.withClock()
	ctx := context.Background()
	bob := f.user(t, "bob")
	for i := range 5 {
		if _, err := f.svc.ChangePassword(ctx, bob, 0, "guess", "new-password", "new-password"); service.AsError(err).Reason != "wrong_password" {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	_, err := f.svc.ChangePassword(ctx, bob, 0, "password-bob", "new-password", "new-password")
	e := service.AsError(err)
	if e.Code != service.ETooMany || e.RetryAt.Sub(c.Now()) != 3*time.Minute || !strings.Contains(e.Message, "请 3 分钟后再试") {
		t.Fatalf("sixth attempt: %v (retry at %v)", err, e.RetryAt)
	}
	if _, err := f.svc.Login(ctx, "bob", "password-bob"); err != nil {
		t.Fatal("the refused attempt changed the password")
	}
	// Another user is not held back by bob's attempts.
	if _, err := f.svc.ChangePassword(ctx, f.user(t, "carol"), 0, "password-carol", "new-password", "new-password"); err != nil {
		t.Errorf("carol: %v", err)
	}
	c.Advance(3 * time.Minute)
	if _, err := f.svc.ChangePassword(ctx, bob, 0, "password-bob", "new-password", "new-password"); err != nil {
		t.Errorf("after three minutes: %v", err)
	}
}

// Two admins demote each other at the same moment: both have read their
// target (and passed every check made outside the store) before either
// writes. Exactly one demotion succeeds; one enabled admin remains.
func TestSetUserAdmin_MutualDemotionRace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.SetUserAdmin(ctx, service.CLIActor, f.user(t, "bob").PublicID, true); err != nil {
		t.Fatal(err)
	}
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	var arrived sync.WaitGroup
	arrived.Add(2)
	f.svc.SetBeforeAccountChange(func() {
		// Wait until both requests have read their target.
		arrived.Done()
		arrived.Wait()
	})
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i, p := range []struct{ by, target store.User }{{alice, bob}, {bob, alice}} {
		done.Add(1)
		go func() {
			defer done.Done()
			_, errs[i] = f.svc.SetUserAdmin(ctx, service.UserActor(p.by), p.target.PublicID, false)
		}()
	}
	done.Wait()
	wins := 0
	for _, err := range errs {
		switch e := service.AsError(err); {
		case err == nil:
			wins++
		case e.Reason != "not_admin" && e.Reason != "last_admin":
			t.Errorf("losing demotion: %v", err)
		}
	}
	admins := 0
	for _, name := range []string{"alice", "bob"} {
		if f.user(t, name).IsAdmin {
			admins++
		}
	}
	if wins != 1 || admins != 1 {
		t.Fatalf("%d demotions succeeded (%v), %d admins left; want 1 and 1", wins, errs, admins)
	}
	log, _ := f.st.AuditLog(ctx, 10)
	if len(log) != 2 || log[0].Action != "user.demote" || log[1].Action != "user.promote" {
		t.Errorf("audit %+v, want the promotion and one demotion", log)
	}
}

func TestSetUserDisabled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.actor(t, "alice")
	bob := f.user(t, "bob")
	if _, err := f.svc.SetUserDisabled(ctx, admin, f.user(t, "alice").PublicID, true); service.AsError(err).Reason != "self" {
		t.Errorf("disabling oneself: %v", err)
	}
	if _, err := f.svc.SetUserDisabled(ctx, admin, "nobody", true); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := f.svc.SetUserDisabled(ctx, f.actor(t, "carol"), bob.PublicID, true); service.AsError(err).Reason != "not_admin" {
		t.Errorf("a non-admin disabling: %v", err)
	}
	u, err := f.svc.SetUserDisabled(ctx, admin, bob.PublicID, true)
	if err != nil || !u.Disabled() {
		t.Fatalf("disable: %+v %v", u, err)
	}
	// Disabling twice changes and audits nothing more.
	if _, err := f.svc.SetUserDisabled(ctx, admin, bob.PublicID, true); err != nil {
		t.Fatal(err)
	}

	// No login: the password is right, the account is not.
	if _, err := f.svc.Login(ctx, "bob", "password-bob"); service.AsError(err).Reason != "account_disabled" {
		t.Errorf("login while disabled: %v", err)
	}
	if _, err := f.svc.Login(ctx, "bob", "wrong"); service.AsError(err).Reason == "account_disabled" {
		t.Error("a wrong password learns that the account is disabled")
	}
	// Not a recipient, by name or in a broadcast.
	_, err = f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "hi", UserNames: []string{"bob"}})
	if e := service.AsError(err); e.Code != service.EConflict || !strings.Contains(e.Fields["to"], "已停用") {
		t.Errorf("send to a disabled user: %v", err)
	}
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "hi", All: true})
	if err != nil || m.Total != 2 {
		t.Fatalf("broadcast: %+v %v; want alice and carol only", m, err)
	}

	if _, err := f.svc.SetUserDisabled(ctx, admin, bob.PublicID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "bob", "password-bob"); err != nil {
		t.Errorf("login after enabling: %v", err)
	}
	log, _ := f.st.AuditLog(ctx, 10)
	var actions []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "user.") && e.Target == "用户「bob」" {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, " ") != "user.enable user.disable" {
		t.Errorf("audit %+v, want one disable and one enable of bob", log)
	}
}

// An admin disables bob after his push URL was checked and before the
// push is queued: nothing is queued for him.
func TestPushToUser_DisabledInTheGapSendsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key, err := f.st.RotateSendKey(ctx, f.ids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	owner, err := f.svc.SendKeyOwner(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetBeforeEnqueue(func() {
		f.svc.SetBeforeEnqueue(nil)
		if _, err := f.svc.SetUserDisabled(ctx, f.actor(t, "alice"), owner.PublicID, true); err != nil {
			t.Error(err)
		}
	})
	_, err = f.svc.PushToUser(ctx, owner, service.Push{Title: "告警"})
	if e := service.AsError(err); e.Code != service.EForbidden || e.Reason != "account_disabled" {
		t.Fatalf("push: %v", err)
	}
	if ms := f.messages(t); len(ms) != 0 {
		t.Fatalf("%d messages queued for a disabled user", len(ms))
	}
	if _, err := f.svc.SendKeyOwner(ctx, key); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("push key after disable: %v", err)
	}
}

// A broadcast whose recipients were read before an admin disabled one of
// them goes to the others.
func TestSend_BroadcastSkipsUserDisabledInTheGap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.svc.SetBeforeEnqueue(func() {
		f.svc.SetBeforeEnqueue(nil)
		if _, err := f.svc.SetUserDisabled(ctx, f.actor(t, "alice"), f.user(t, "carol").PublicID, true); err != nil {
			t.Error(err)
		}
	})
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "hi", All: true})
	if err != nil || m.Total != 2 {
		t.Fatalf("broadcast: %+v %v", m, err)
	}
	ds, _ := f.st.Deliveries(ctx, m.ID)
	for _, d := range ds {
		if d.UserName == "carol" {
			t.Errorf("carol got a delivery: %+v", d)
		}
	}
}

func TestDeleteUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.actor(t, "alice")
	bob := f.user(t, "bob")
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "hi", UserNames: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, confirm := range []string{"", "Bob", "bob "} {
		if _, err := f.svc.DeleteUser(ctx, admin, bob.PublicID, confirm); service.AsError(err).Fields["confirm_name"] == "" {
			t.Errorf("confirmation %q: %v", confirm, err)
		}
	}
	if _, err := f.svc.DeleteUser(ctx, admin, f.user(t, "alice").PublicID, "alice"); service.AsError(err).Reason != "self" {
		t.Errorf("deleting oneself: %v", err)
	}
	if _, err := f.svc.DeleteUser(ctx, admin, bob.PublicID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.User(ctx, bob.PublicID); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("deleted user: %v", err)
	}
	if _, err := f.svc.Login(ctx, "bob", "password-bob"); service.ErrorCode(err) != service.EUnauthorized {
		t.Errorf("login as deleted user: %v", err)
	}
	ds, _ := f.st.Deliveries(ctx, m.ID)
	if len(ds) != 1 || ds[0].UserName != store.DeletedUserName || ds[0].OpenID != "" || ds[0].State != store.StateFailed {
		t.Errorf("deliveries %+v", ds)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "user.delete" || log[0].Target != "用户「bob」" {
		t.Errorf("audit %+v", log)
	}
}

func TestPasswordResetLink(t *testing.T) {
	f := newFixture(t)
	c := f.withClock()
	ctx := context.Background()
	admin := f.actor(t, "alice")
	bob := f.user(t, "bob")
	session, _, _ := f.st.CreateSession(ctx, bob.ID, "", "")

	link, expires, err := f.svc.CreatePasswordResetLink(ctx, admin, bob.PublicID)
	if d := expires.Sub(c.Now()); err != nil || !strings.Contains(link, "/reset-password?token=") || d <= time.Hour-time.Millisecond || d > time.Hour {
		t.Fatalf("link %q expires %v: %v", link, expires, err)
	}
	token := link[strings.Index(link, "token=")+len("token="):]
	if u, err := f.svc.PasswordResetUser(ctx, token); err != nil || u.ID != bob.ID {
		t.Fatalf("link's user: %+v %v", u, err)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "password.reset_link" || strings.Contains(log[0].Target+log[0].Detail, token) {
		t.Errorf("audit %+v (must not hold the token)", log)
	}
	// A bad new password leaves the link usable.
	if _, err := f.svc.ResetPassword(ctx, token, "short", "short"); service.AsError(err).Fields["password"] == "" {
		t.Fatalf("short password: %v", err)
	}
	if _, err := f.svc.ResetPassword(ctx, token, "new-password", "new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AuthenticateSession(ctx, session, ""); err == nil {
		t.Error("bob's session survived the reset")
	}
	if _, err := f.svc.Login(ctx, "bob", "new-password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := f.svc.ResetPassword(ctx, token, "other-password", "other-password"); service.AsError(err).Reason != "reset_used" {
		t.Errorf("second use: %v", err)
	}

	link, _, _ = f.svc.CreatePasswordResetLink(ctx, admin, bob.PublicID)
	token = link[strings.Index(link, "token=")+len("token="):]
	c.Advance(time.Hour)
	if _, err := f.svc.PasswordResetUser(ctx, token); service.AsError(err).Reason != "reset_expired" {
		t.Errorf("after an hour: %v", err)
	}
	if _, err := f.svc.PasswordResetUser(ctx, "x"+token[1:]); service.AsError(err).Reason != "reset_invalid" {
		t.Errorf("unknown token: %v", err)
	}
}

// Item 12: a one-scan bind tells the WeChat whose account it joined and
// how to undo it; 解绑 undoes it, audited.
func TestHandleInbound_UnbindKeyword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().Unix()
	tok, _, err := f.st.NewBindToken(ctx, f.ids["unbound"], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := f.svc.HandleInbound(ctx, wechat.Inbound{FromUserName: "openid-victim", CreateTime: now, MsgType: "event",
		Event: "subscribe", EventKey: "qrscene_bind_" + tok})
	if err != nil || !strings.Contains(reply, "已绑定账号「unbound」") || !strings.Contains(reply, "如非本人操作，请回复「解绑」") {
		t.Fatalf("bind reply %q, %v", reply, err)
	}
	reply, err = f.svc.HandleInbound(ctx, wechat.Inbound{FromUserName: "openid-victim", CreateTime: now, MsgType: "text", Content: " 解绑 ", MsgID: 9001})
	if err != nil || !strings.Contains(reply, "已解除这个微信与账号「unbound」的绑定") {
		t.Fatalf("解绑 reply %q, %v", reply, err)
	}
	if _, err := f.svc.Binding(ctx, f.ids["unbound"]); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("binding after 解绑: %v", err)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "binding.unbind" || log[0].Actor != "unbound" || strings.Contains(log[0].Detail, "openid-victim") {
		t.Errorf("audit %+v (openid masked)", log)
	}
	reply, _ = f.svc.HandleInbound(ctx, wechat.Inbound{FromUserName: "openid-victim", CreateTime: now, MsgType: "text", Content: "解绑", MsgID: 9002})
	if !strings.Contains(reply, "没有绑定") {
		t.Errorf("解绑 when unbound: %q", reply)
	}
	// bob's WeChat is untouched by all this.
	if _, err := f.svc.Binding(ctx, f.ids["bob"]); err != nil {
		t.Errorf("bob's binding: %v", err)
	}
}
