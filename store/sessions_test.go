package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/wxpush/wxpush/migrations"
	"github.com/wxpush/wxpush/store"
)

func newUser(t *testing.T, s *store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), name, "pw-"+name+"-123", false, false)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSession_CreateAuthenticateEnd(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	alice := newUser(t, s, "alice")
	token, se, err := s.CreateSession(ctx, alice.ID, "203.0.113.7", "Mozilla/5.0 Firefox/140.0")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(token) {
		t.Fatalf("token %q is not 43 characters of base64url (256 bits)", token)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Fatalf("token decodes to %d bytes, %v", len(raw), err)
	}
	if se.UserID != alice.ID || !se.CreatedAt.Equal(c.Now()) || !se.ExpiresAt.Equal(c.Now().Add(store.SessionLifetime)) ||
		se.IP != "203.0.113.7" || se.UserAgent != "Mozilla/5.0 Firefox/140.0" {
		t.Fatalf("record %+v", se)
	}
	got, err := s.AuthenticateSession(ctx, token, "203.0.113.7")
	if err != nil || got.ID != se.ID || got.UserID != alice.ID {
		t.Fatalf("AuthenticateSession = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "x", token[:42], token + "A", strings.Repeat("A", 43), token[:42] + "="} {
		if _, err := s.AuthenticateSession(ctx, bad, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %q: %v, want ErrNotFound", bad, err)
		}
	}

	// Ending it takes effect at once, although the session was cached by
	// the authentication above.
	if err := s.EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateSession(ctx, token, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after EndSession: %v, want ErrNotFound", err)
	}
	if err := s.EndSession(ctx, token); err != nil {
		t.Fatalf("ending an ended session: %v", err)
	}
}

func TestSession_UserAgentAndIPAreTruncated(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	u := newUser(t, s, "alice")
	ua := strings.Repeat("浏", 200) // 600 bytes
	_, se, err := s.CreateSession(ctx, u.ID, strings.Repeat("1", 100), ua+"\xff")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.UserSessions(ctx, u.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("UserSessions = %v, %v", list, err)
	}
	got := list[0]
	if len(got.UserAgent) > store.MaxUserAgent || !strings.HasPrefix(ua, got.UserAgent) || len(got.UserAgent) < store.MaxUserAgent-3 {
		t.Errorf("user agent kept as %d bytes %q", len(got.UserAgent), got.UserAgent)
	}
	if len(got.IP) != 64 || got.IP != se.IP {
		t.Errorf("ip kept as %q", got.IP)
	}
}

func TestSession_LastSeenWrittenAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	u := newUser(t, s, "alice")
	start := c.Now()
	token, se, err := s.CreateSession(ctx, u.ID, "198.51.100.1", "ua")
	if err != nil {
		t.Fatal(err)
	}
	// What the database holds (UserSessions reads SQL, not the cache).
	stored := func() store.Session {
		t.Helper()
		list, err := s.UserSessions(ctx, u.ID)
		if err != nil || len(list) != 1 || list[0].ID != se.ID {
			t.Fatalf("UserSessions = %+v, %v", list, err)
		}
		return list[0]
	}
	// A poll every 2 seconds for 58 seconds, from a new address.
	for range 30 {
		if _, err := s.AuthenticateSession(ctx, token, "198.51.100.2"); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Second)
	}
	if got := stored(); !got.LastSeenAt.Equal(start) || got.IP != "198.51.100.1" {
		t.Fatalf("after 30 polls within a minute the row says last seen %v from %s; want untouched (%v)", got.LastSeenAt, got.IP, start)
	}
	c.Advance(2 * time.Second) // a minute after sign-in
	got, err := s.AuthenticateSession(ctx, token, "198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(c.Now()) {
		t.Errorf("returned last seen %v, want %v", got.LastSeenAt, c.Now())
	}
	if row := stored(); !row.LastSeenAt.Equal(c.Now()) || row.IP != "198.51.100.2" {
		t.Fatalf("row last seen %v from %s, want %v from 198.51.100.2", row.LastSeenAt, row.IP, c.Now())
	}
	// And the next minute starts from there.
	c.Advance(30 * time.Second)
	s.AuthenticateSession(ctx, token, "198.51.100.3")
	if row := stored(); row.IP != "198.51.100.2" {
		t.Errorf("touched again 30 s after the last write: %+v", row)
	}
}

func TestSession_ExpiresAfterItsLifetimeAndIsPruned(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	u := newUser(t, s, "alice")
	old, _, err := s.CreateSession(ctx, u.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(store.SessionLifetime / 2)
	young, _, err := s.CreateSession(ctx, u.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Used every day: the lifetime is absolute, use does not extend it.
	for range 14 {
		c.Advance(24 * time.Hour)
		if _, err := s.AuthenticateSession(ctx, old, ""); err != nil {
			t.Fatalf("day %v: %v", c.Now(), err)
		}
	}
	c.Advance(store.SessionLifetime/2 - 14*24*time.Hour - time.Millisecond)
	if _, err := s.AuthenticateSession(ctx, old, ""); err != nil {
		t.Fatalf("a millisecond before expiry: %v", err)
	}
	c.Advance(time.Millisecond)
	if _, err := s.AuthenticateSession(ctx, old, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("at expiry: %v, want ErrNotFound", err)
	}
	if list, _ := s.UserSessions(ctx, u.ID); len(list) != 1 {
		t.Errorf("UserSessions lists %d sessions, want only the unexpired one", len(list))
	}
	p, err := s.Prune(ctx, store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Sessions != 1 {
		t.Errorf("pruned %d sessions, want 1", p.Sessions)
	}
	if _, err := s.AuthenticateSession(ctx, young, ""); err != nil {
		t.Errorf("the unexpired session went with the pruning: %v", err)
	}
}

func TestSession_EndOneOthersAll(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	var tokens []string
	var ids []int64
	for range 3 {
		tok, se, err := s.CreateSession(ctx, alice.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		// Cached, as every signed-in request makes them.
		if _, err := s.AuthenticateSession(ctx, tok, ""); err != nil {
			t.Fatal(err)
		}
		tokens, ids = append(tokens, tok), append(ids, se.ID)
	}
	bobTok, bobSe, _ := s.CreateSession(ctx, bob.ID, "", "")
	alive := func(tok string) bool {
		_, err := s.AuthenticateSession(ctx, tok, "")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	// Nobody ends someone else's session, whatever id they send.
	if err := s.EndUserSession(ctx, bob.ID, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob ending alice's session: %v, want ErrNotFound", err)
	}
	if err := s.EndUserSession(ctx, alice.ID, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	if !alive(tokens[0]) {
		t.Fatal("alice's session ended by bob's attempt")
	}

	if err := s.EndUserSession(ctx, alice.ID, ids[1]); err != nil {
		t.Fatal(err)
	}
	if alive(tokens[1]) || !alive(tokens[0]) || !alive(tokens[2]) {
		t.Fatal("EndUserSession ended the wrong sessions")
	}
	tok3, _, _ := s.CreateSession(ctx, alice.ID, "", "")
	n, err := s.EndOtherSessions(ctx, alice.ID, ids[0])
	if err != nil || n != 2 {
		t.Fatalf("EndOtherSessions = %d, %v; want 2", n, err)
	}
	if !alive(tokens[0]) || alive(tokens[2]) || alive(tok3) || !alive(bobTok) {
		t.Fatal("EndOtherSessions ended the wrong sessions")
	}
	if n, err := s.EndUserSessions(ctx, alice.ID); err != nil || n != 1 {
		t.Fatalf("EndUserSessions = %d, %v; want 1", n, err)
	}
	if alive(tokens[0]) || !alive(bobTok) {
		t.Fatal("EndUserSessions ended the wrong sessions")
	}
	if list, _ := s.UserSessions(ctx, bob.ID); len(list) != 1 || list[0].ID != bobSe.ID {
		t.Fatalf("bob's sessions %+v", list)
	}
}

func TestSession_DatabaseHoldsOnlyTheHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := newUser(t, s, "alice")
	token, _, err := s.CreateSession(ctx, u.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash []byte
	if err := db.QueryRow(`SELECT token_hash FROM sessions`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(token)); string(hash) != string(want[:]) {
		t.Error("token_hash is not the SHA-256 of the token")
	}
	// Neither the token nor its bytes anywhere in the files (the WAL included).
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), token) || strings.Contains(string(b), string(raw)) {
			t.Errorf("%s contains the session token", filepath.Base(f))
		}
	}
}

// The cookie keys of the signed-cookie sessions were a master key in the
// database; the migration to server-side sessions deletes them.
func TestMigration_DeletesTheOldSessionKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO settings(key, value) VALUES('session_keys', ?), ('signup_open', ?)`,
		make([]byte, 64), []byte("1")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Setting(ctx, "session_keys"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session_keys after the upgrade: %v, want ErrNotFound", err)
	}
	if v, err := s.Setting(ctx, "signup_open"); err != nil || string(v) != "1" {
		t.Errorf("other settings must stay: %q, %v", v, err)
	}
}
