package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)} }

func openStore(t *testing.T) (*store.Store, *clock) {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetBcryptCost(bcrypt.MinCost)
	c := newClock()
	s.SetClock(c.Now)
	return s, c
}

func TestOpen_MigratesFromEmptyAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) == 0 {
		t.Fatal("no migrations reported")
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("migration %d %s not applied", m.Version, m.Name)
		}
	}
	if _, err := s.CreateUser(ctx, "alice", "pw-alice-123", false, true); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopening an up-to-date database keeps the data and applies nothing new.
	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v; want 1", n, err)
	}
}

func TestCreateUser_FirstIsAdminAndNamesAreUnique(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, err := s.CreateUser(ctx, "alice", "secret-1", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if !a.IsAdmin {
		t.Error("first user is not admin")
	}
	b, err := s.CreateUser(ctx, "bob", "secret-2", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.IsAdmin {
		t.Error("second user became admin")
	}
	if a.PublicID == b.PublicID || len(a.PublicID) < 20 {
		t.Errorf("public ids %q, %q: want distinct random ids", a.PublicID, b.PublicID)
	}
	if _, err := s.CreateUser(ctx, "ALICE", "x-secret", false, true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name (other case): err = %v, want ErrConflict", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	if _, err := s.CreateUser(ctx, "alice", "correct horse", false, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pw string
		wantErr        error
	}{
		{"right", "alice", "correct horse", nil},
		{"wrong password", "alice", "wrong horse", store.ErrBadCredentials},
		{"unknown user", "mallory", "correct horse", store.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.Authenticate(ctx, tt.user, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && u.Name != "alice" {
				t.Errorf("user = %+v", u)
			}
		})
	}
}

func TestCompleteBinding(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	alice, _ := s.CreateUser(ctx, "alice", "pw-alice-1", false, true)
	bob, _ := s.CreateUser(ctx, "bob", "pw-bob-12", false, true)

	tok, rec, err := s.NewBindToken(ctx, alice.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != store.BindTokenLen {
		t.Fatalf("token length %d", len(tok))
	}
	if got, err := s.BindTokenByToken(ctx, tok); err != nil || got.ID != rec.ID || got.Used() {
		t.Fatalf("BindTokenByToken = %+v, %v", got, err)
	}
	if _, _, err := s.BindStatus(ctx, bob.ID, rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another user's token id: err = %v, want ErrNotFound", err)
	}
	if _, err := s.CompleteBinding(ctx, "forged"+tok[6:], store.Binding{OpenID: "o1"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("forged token: err = %v, want ErrNotFound", err)
	}
	b, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: "oAlice", Nickname: "阿丽"})
	if err != nil {
		t.Fatal(err)
	}
	if b.UserID != alice.ID || !b.BoundAt.Equal(c.Now()) {
		t.Errorf("binding = %+v", b)
	}
	if _, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: "oAlice"}); !errors.Is(err, store.ErrTokenUsed) {
		t.Errorf("reused token: err = %v, want ErrTokenUsed", err)
	}
	got, err := s.Binding(ctx, alice.ID)
	if err != nil || got.OpenID != "oAlice" || got.Nickname != "阿丽" {
		t.Fatalf("Binding = %+v, %v", got, err)
	}

	// Bob cannot take Alice's openid; his token stays usable.
	btok, _, _ := s.NewBindToken(ctx, bob.ID, 10*time.Minute)
	if _, err := s.CompleteBinding(ctx, btok, store.Binding{OpenID: "oAlice"}); !errors.Is(err, store.ErrOpenIDTaken) {
		t.Errorf("openid held by alice: err = %v, want ErrOpenIDTaken", err)
	}
	if _, err := s.CompleteBinding(ctx, btok, store.Binding{OpenID: "oBob"}); err != nil {
		t.Errorf("bob's token after the refusal: %v", err)
	}

	// Expiry.
	etok, _, _ := s.NewBindToken(ctx, alice.ID, time.Minute)
	c.Advance(time.Minute)
	if _, err := s.CompleteBinding(ctx, etok, store.Binding{OpenID: "oAlice2"}); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("expired token: err = %v, want ErrTokenExpired", err)
	}

	// Re-binding moves alice to a new openid and frees the old one.
	rtok, _, _ := s.NewBindToken(ctx, alice.ID, time.Minute)
	if _, err := s.CompleteBinding(ctx, rtok, store.Binding{OpenID: "oAliceNew"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Binding(ctx, alice.ID); got.OpenID != "oAliceNew" {
		t.Errorf("after rebind openid = %q", got.OpenID)
	}

	if err := s.Unbind(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Binding(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after unbind: err = %v, want ErrNotFound", err)
	}
	if err := s.Unbind(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second unbind: err = %v, want ErrNotFound", err)
	}
}

func TestEnsureSetting_KeepsFirstValue(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	v1, err := s.EnsureSetting(ctx, "k", func() []byte { return []byte("one") })
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.EnsureSetting(ctx, "k", func() []byte { return []byte("two") })
	if err != nil {
		t.Fatal(err)
	}
	if string(v1) != "one" || string(v2) != "one" {
		t.Errorf("got %q then %q, want one twice", v1, v2)
	}
	if _, err := s.Setting(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing setting: err = %v", err)
	}
}

func TestSendKey_StoredHashedAndRotated(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	u, _ := s.CreateUser(ctx, "alice", "pw-alice-1", false, true)
	k1, err := s.RotateSendKey(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserBySendKey(ctx, k1); err != nil || got.ID != u.ID {
		t.Fatalf("UserBySendKey = %+v, %v", got, err)
	}
	info, err := s.SendKey(ctx, u.ID)
	if err != nil || len(info.Prefix) >= len(k1) || info.LastUsedAt.IsZero() {
		t.Fatalf("SendKey = %+v, %v", info, err)
	}
	k2, _ := s.RotateSendKey(ctx, u.ID)
	if _, err := s.UserBySendKey(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old key after rotation: %v", err)
	}
	if _, err := s.UserBySendKey(ctx, k2); err != nil {
		t.Errorf("new key: %v", err)
	}
}

func TestMessages_ListsCountsPerMessage(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	var rcpts []store.Recipient
	for i := range 3 {
		u, _ := s.CreateUser(ctx, fmt.Sprintf("u%d", i), "password-1", false, false)
		rcpts = append(rcpts, store.Recipient{UserID: u.ID, OpenID: fmt.Sprintf("o%d", i)})
	}
	m1, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "one", Source: "test"}, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "two", Source: "test"}, rcpts[:2])
	ds, err := s.ClaimDue(ctx, c.Now(), 2, nil) // m1's first two
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	s.RecordResults(ctx, []store.Result{
		{DeliveryID: ds[0].ID, State: store.StateSent, At: c.Now()},
		{DeliveryID: ds[1].ID, State: store.StateFailed, ErrCode: 43004, At: c.Now()},
	})
	ms, err := s.Messages(ctx, 10, 0)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Messages = %v, %v", ms, err)
	}
	want := map[int64]store.DeliveryCounts{
		m1.ID: {Sent: 1, Failed: 1, Queued: 1},
		m2.ID: {Queued: 2},
	}
	for _, m := range ms {
		if m.Counts != want[m.ID] {
			t.Errorf("message %d counts %+v, want %+v", m.ID, m.Counts, want[m.ID])
		}
	}
	if page, _ := s.DeliveriesPage(ctx, m1.ID, 1); len(page) != 1 || page[0].State != store.StateFailed {
		t.Errorf("first page %+v: want the failed delivery first", page)
	}
}

// Paused kinds are passed as a list: none, one or both are left alone.
func TestClaimDueAndNextDue_SkipPausedKinds(t *testing.T) {
	tests := []struct {
		name    string
		skip    []string
		claimed []string // kinds, in due order
		nextDue string   // the kind whose delivery is due first; "" none
	}{
		{"nil", nil, []string{store.KindText, store.KindTemplate}, store.KindText},
		{"empty", []string{}, []string{store.KindText, store.KindTemplate}, store.KindText},
		{"text", []string{store.KindText}, []string{store.KindTemplate}, store.KindTemplate},
		{"template", []string{store.KindTemplate}, []string{store.KindText}, store.KindText},
		{"both", []string{store.KindTemplate, store.KindText}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, c := openStore(t)
			u, err := s.CreateUser(ctx, "alice", "password-1", false, false)
			if err != nil {
				t.Fatal(err)
			}
			rcpt := []store.Recipient{{UserID: u.ID, OpenID: "oAlice"}}
			due := map[string]time.Time{}
			for _, m := range []store.Message{
				{Kind: store.KindText, Body: "hi", Source: "test"},
				{Kind: store.KindTemplate, TemplateID: "T1", Source: "test"},
			} {
				if _, err := s.EnqueueMessage(ctx, m, rcpt); err != nil {
					t.Fatal(err)
				}
				due[m.Kind] = c.Now()
				c.Advance(time.Second)
			}

			at, ok, err := s.NextDue(ctx, tt.skip)
			if err != nil {
				t.Fatal(err)
			}
			if tt.nextDue == "" {
				if ok {
					t.Errorf("NextDue = %v; want none", at)
				}
			} else if !ok || !at.Equal(due[tt.nextDue]) {
				t.Errorf("NextDue = %v, %v; want the %s delivery's %v", at, ok, tt.nextDue, due[tt.nextDue])
			}

			ds, err := s.ClaimDue(ctx, c.Now(), 10, tt.skip)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, d := range ds {
				kinds = append(kinds, d.Kind)
			}
			if !slices.Equal(kinds, tt.claimed) {
				t.Errorf("ClaimDue claimed %v; want %v", kinds, tt.claimed)
			}
		})
	}
}
