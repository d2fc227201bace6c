package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

func newAdmin(t *testing.T, s *store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), name, "pw-"+name+"-123", true, false)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func bindUser(t *testing.T, s *store.Store, u store.User, openid string) {
	t.Helper()
	ctx := context.Background()
	tok, _, err := s.NewBindToken(ctx, u.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: openid}); err != nil {
		t.Fatal(err)
	}
}

func enabledAdmins(t *testing.T, s *store.Store) []string {
	t.Helper()
	ps, err := s.People(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.IsAdmin && !p.Disabled() {
			out = append(out, p.Name)
		}
	}
	return out
}

// The last enabled admin can be neither demoted, disabled nor deleted,
// whoever asks; a disabled admin does not count as one.
func TestAccounts_LastEnabledAdminStays(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	root := newAdmin(t, s, "root")
	old := newAdmin(t, s, "old")
	if _, _, err := s.SetDisabled(ctx, root.ID, old.ID, true, "x"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{"demote", func() error { _, _, err := s.SetAdmin(ctx, root.ID, root.ID, false); return err }},
		{"demote from the command line", func() error { _, _, err := s.SetAdmin(ctx, 0, root.ID, false); return err }},
		{"disable", func() error { _, _, err := s.SetDisabled(ctx, 0, root.ID, true, "x"); return err }},
		{"delete", func() error { _, err := s.DeleteUser(ctx, 0, root.ID, "x"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, store.ErrLastAdmin) {
				t.Fatalf("err = %v, want ErrLastAdmin", err)
			}
			if got := enabledAdmins(t, s); len(got) != 1 || got[0] != "root" {
				t.Fatalf("enabled admins %v", got)
			}
		})
	}
	// With the other admin enabled again, root may step down.
	if _, _, err := s.SetDisabled(ctx, root.ID, old.ID, false, ""); err != nil {
		t.Fatal(err)
	}
	if u, changed, err := s.SetAdmin(ctx, root.ID, root.ID, false); err != nil || !changed || u.IsAdmin {
		t.Fatalf("demote with another admin: %+v %v %v", u, changed, err)
	}
	if got := enabledAdmins(t, s); len(got) != 1 || got[0] != "old" {
		t.Fatalf("enabled admins %v", got)
	}
}

// Two admins each open the other's page (both see two admins) and demote
// each other. Both checks were made before either write, the order in
// which a check outside the write's transaction lets both through; the
// store checks inside it, so the second demotion is refused: its admin is
// none any more, and its target is the last one.
func TestAccounts_AdminsDemotingEachOtherLeaveOne(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a := newAdmin(t, s, "a")
	b := newAdmin(t, s, "b")
	// What each admin's page showed: two enabled admins, so demoting the
	// other looks allowed to both.
	if got := enabledAdmins(t, s); len(got) != 2 {
		t.Fatalf("enabled admins %v", got)
	}
	if _, _, err := s.SetAdmin(ctx, a.ID, b.ID, false); err != nil {
		t.Fatalf("a demotes b: %v", err)
	}
	if _, _, err := s.SetAdmin(ctx, b.ID, a.ID, false); !errors.Is(err, store.ErrNotAdmin) {
		t.Fatalf("b demotes a after losing the rights: err = %v, want ErrNotAdmin", err)
	}
	// Without b's rights in the way (the command line asks), a is still
	// the last admin.
	if _, _, err := s.SetAdmin(ctx, 0, a.ID, false); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("demoting the last admin: err = %v, want ErrLastAdmin", err)
	}
	if got := enabledAdmins(t, s); len(got) != 1 || got[0] != "a" {
		t.Fatalf("enabled admins %v, want [a]", got)
	}
}

// The same, both demotions let go at once after both checks: exactly one
// succeeds, whichever it is.
func TestAccounts_ConcurrentMutualDemotionOneWins(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a := newAdmin(t, s, "a")
	b := newAdmin(t, s, "b")
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pair := range [][2]int64{{a.ID, b.ID}, {b.ID, a.ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, errs[i] = s.SetAdmin(ctx, pair[0], pair[1], false)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrNotAdmin) && !errors.Is(err, store.ErrLastAdmin):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || len(enabledAdmins(t, s)) != 1 {
		t.Fatalf("%d demotions succeeded (%v), %v enabled admins left", ok, errs, enabledAdmins(t, s))
	}
}

func TestAccounts_DisableRevokesEverythingAndRefusesSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	root := newAdmin(t, s, "root")
	alice := newUser(t, s, "alice")
	bindUser(t, s, alice, "oAlice")
	token, _, err := s.CreateSession(ctx, alice.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.RotateSendKey(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Warm the caches, so the test sees them dropped too.
	if _, err := s.AuthenticateSession(ctx, token, ""); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Recipients(ctx, false, []int64{alice.ID}); len(rs) != 1 {
		t.Fatalf("recipients before: %v", rs)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.Disabled() {
		t.Fatal("disabled before")
	}
	m, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "test"},
		[]store.Recipient{{UserID: alice.ID, OpenID: "oAlice"}})
	if err != nil {
		t.Fatal(err)
	}

	u, changed, err := s.SetDisabled(ctx, root.ID, alice.ID, true, "账号已停用")
	if err != nil || !changed || !u.Disabled() {
		t.Fatalf("disable: %+v %v %v", u, changed, err)
	}
	if _, err := s.AuthenticateSession(ctx, token, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after disable: %v", err)
	}
	if _, _, err := s.CreateSession(ctx, alice.ID, "", ""); !errors.Is(err, store.ErrUserDisabled) {
		t.Errorf("new session for a disabled user: %v", err)
	}
	if _, err := s.UserBySendKey(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("push key after disable: %v", err)
	}
	if _, err := s.PasswordResetOf(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reset link after disable: %v", err)
	}
	if _, _, err := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour); !errors.Is(err, store.ErrUserDisabled) {
		t.Errorf("reset link for a disabled user: %v", err)
	}
	for _, all := range []bool{true, false} {
		if rs, _ := s.Recipients(ctx, all, []int64{alice.ID}); len(rs) != 0 {
			t.Errorf("recipients (all=%v) include the disabled user: %v", all, rs)
		}
	}
	if u, _ := s.UserByID(ctx, alice.ID); !u.Disabled() {
		t.Error("UserByID still says enabled (stale cache)")
	}
	ds, _ := s.Deliveries(ctx, m.ID)
	if len(ds) != 1 || ds[0].State != store.StateFailed || ds[0].ErrMsg != "账号已停用" {
		t.Fatalf("pending delivery after disable: %+v", ds)
	}
	if n, _ := s.RetryFailed(ctx, m.ID, time.Now()); n != 0 {
		t.Errorf("retry re-queued %d deliveries of a disabled user", n)
	}
	// Queueing for her with a recipient list read before she was disabled.
	if _, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "test"},
		[]store.Recipient{{UserID: alice.ID, OpenID: "oAlice"}}); !errors.Is(err, store.ErrRecipientInactive) {
		t.Errorf("enqueue to a disabled user: %v", err)
	}
	if _, err := s.Binding(ctx, alice.ID); err != nil {
		t.Errorf("the binding should stay while disabled: %v", err)
	}

	// Enabled again: she can sign in and receive; the push key stays gone.
	if _, changed, err := s.SetDisabled(ctx, root.ID, alice.ID, false, ""); err != nil || !changed {
		t.Fatalf("enable: %v %v", changed, err)
	}
	if _, _, err := s.CreateSession(ctx, alice.ID, "", ""); err != nil {
		t.Errorf("session after enable: %v", err)
	}
	if rs, _ := s.Recipients(ctx, false, []int64{alice.ID}); len(rs) != 1 {
		t.Errorf("recipients after enable: %v", rs)
	}
}

func TestAccounts_DeleteKeepsDeliveriesAnonymised(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	root := newAdmin(t, s, "root")
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	bindUser(t, s, alice, "oAlice")
	bindUser(t, s, bob, "oBob")
	if _, _, err := s.CreateSession(ctx, alice.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateSendKey(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	m, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "dashboard", CreatedBy: alice.ID},
		[]store.Recipient{{UserID: alice.ID, Name: "alice", OpenID: "oAlice"}, {UserID: bob.ID, Name: "bob", OpenID: "oBob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByID(ctx, alice.ID); err != nil { // cached
		t.Fatal(err)
	}

	if _, err := s.DeleteUser(ctx, root.ID, alice.ID, "账号已删除"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByID(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID after delete: %v", err)
	}
	if _, err := s.UserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByName after delete: %v", err)
	}
	if _, err := s.Binding(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("binding after delete: %v", err)
	}
	if _, err := s.SendKey(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("push key after delete: %v", err)
	}
	if ss, _ := s.UserSessions(ctx, alice.ID); len(ss) != 0 {
		t.Errorf("sessions after delete: %v", ss)
	}
	got, err := s.Message(ctx, m.ID)
	if err != nil || got.Total != 2 || got.CreatedBy != 0 {
		t.Fatalf("message after delete: %+v %v", got, err)
	}
	ds, _ := s.Deliveries(ctx, m.ID)
	if len(ds) != 2 {
		t.Fatalf("deliveries after delete: %+v", ds)
	}
	for _, d := range ds {
		switch d.UserName {
		case store.DeletedUserName:
			if d.UserID != 0 || d.OpenID != "" || d.State != store.StateFailed || d.ErrMsg != "账号已删除" {
				t.Errorf("the deleted user's delivery: %+v", d)
			}
		case "bob":
			if d.OpenID != "oBob" || d.State != store.StateQueued {
				t.Errorf("bob's delivery changed: %+v", d)
			}
		default:
			t.Errorf("delivery %+v", d)
		}
	}
	if n, _ := s.RetryFailed(ctx, m.ID, time.Now()); n != 0 {
		t.Errorf("retry re-queued %d deliveries of a deleted user", n)
	}
	// The name is free again.
	if _, err := s.CreateUser(ctx, "alice", "another-password", false, false); err != nil {
		t.Errorf("the deleted user's name: %v", err)
	}
}

func TestAccounts_ChangePassword(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	alice := newUser(t, s, "alice")
	keep, _, _ := s.CreateSession(ctx, alice.ID, "", "")
	other, _, _ := s.CreateSession(ctx, alice.ID, "", "")
	cur, _ := s.AuthenticateSession(ctx, keep, "")
	if _, err := s.ChangePassword(ctx, alice.ID, "wrong-password", "new-password-1", cur.ID); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("wrong current password: %v", err)
	}
	if _, err := s.AuthenticateSession(ctx, other, ""); err != nil {
		t.Fatal("a refused change ended a session")
	}
	n, err := s.ChangePassword(ctx, alice.ID, "pw-alice-123", "new-password-1", cur.ID)
	if err != nil || n != 1 {
		t.Fatalf("change: %d %v", n, err)
	}
	if _, err := s.AuthenticateSession(ctx, other, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the other session survived: %v", err)
	}
	if _, err := s.AuthenticateSession(ctx, keep, ""); err != nil {
		t.Errorf("the asking session ended: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "pw-alice-123"); !errors.Is(err, store.ErrBadCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestAccounts_ResetLinkSingleUseAndExpiry(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	root := newAdmin(t, s, "root")
	alice := newUser(t, s, "alice")
	session, _, _ := s.CreateSession(ctx, alice.ID, "", "")

	token, p, err := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour)
	if err != nil || p.ExpiresAt.Sub(p.CreatedAt) != time.Hour || len(token) != store.ResetTokenLen {
		t.Fatalf("create: %q %+v %v", token, p, err)
	}
	for _, bad := range []string{"", "x", token[:31] + "!", token + "A"} {
		if _, err := s.ResetPassword(ctx, bad, "new-password-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	u, err := s.ResetPassword(ctx, token, "new-password-1")
	if err != nil || u.ID != alice.ID {
		t.Fatalf("reset: %+v %v", u, err)
	}
	if _, err := s.AuthenticateSession(ctx, session, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session survived the reset: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := s.ResetPassword(ctx, token, "third-password"); !errors.Is(err, store.ErrTokenUsed) {
		t.Errorf("second use: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "new-password-1"); err != nil {
		t.Errorf("a refused second use changed the password: %v", err)
	}

	// A new link replaces the old one, and lasts an hour.
	old, _, _ := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour)
	fresh, _, _ := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour)
	if _, err := s.PasswordResetByToken(ctx, old); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replaced link: %v", err)
	}
	c.Advance(59 * time.Minute)
	if _, err := s.PasswordResetByToken(ctx, fresh); err != nil {
		t.Errorf("link after 59 minutes: %v", err)
	}
	c.Advance(time.Minute)
	if _, err := s.ResetPassword(ctx, fresh, "fourth-password"); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("link after an hour: %v", err)
	}

	// Changing the password oneself voids a pending link.
	pending, _, _ := s.CreatePasswordReset(ctx, root.ID, alice.ID, time.Hour)
	if _, err := s.ChangePassword(ctx, alice.ID, "new-password-1", "fifth-password", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasswordResetByToken(ctx, pending); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link after a password change: %v", err)
	}
}

// Two uses of one link at once, both past the cheap check before either
// writes: the check inside the transaction lets only one set a password.
func TestAccounts_ResetLinkRace(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	alice := newUser(t, s, "alice")
	token, _, err := s.CreatePasswordReset(ctx, 0, alice.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var second error
	once := false
	store.SetBeforeResetTx(s, func() {
		if once {
			return
		}
		once = true
		// The first use has checked the link; the second runs whole now.
		_, second = s.ResetPassword(ctx, token, "second-password")
	})
	_, first := s.ResetPassword(ctx, token, "first-password")
	if second != nil {
		t.Fatalf("the use that went first: %v", second)
	}
	if !errors.Is(first, store.ErrTokenUsed) {
		t.Fatalf("the use that checked first but wrote second: %v, want ErrTokenUsed", first)
	}
	if _, err := s.Authenticate(ctx, "alice", "second-password"); err != nil {
		t.Errorf("the winning password: %v", err)
	}
}
