package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

func TestAPIToken_CreateAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	admin, err := s.CreateUser(ctx, "root", "pw-root-123", true, false)
	if err != nil {
		t.Fatal(err)
	}
	token, rec, err := s.CreateAPIToken(ctx, "ci", admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^wxp_[A-Za-z0-9]{40}$`).MatchString(token) {
		t.Fatalf("token %q does not look like wxp_ + 40 alphanumerics", token)
	}
	if rec.Prefix != token[:8] || rec.Name != "ci" || rec.CreatedBy != admin.ID || rec.ID == 0 {
		t.Fatalf("record %+v", rec)
	}

	got, err := s.AuthenticateAPIToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rec.ID || got.Creator != "root" || !got.LastUsedAt.Equal(c.Now()) {
		t.Fatalf("authenticated %+v, want id %d used now", got, rec.ID)
	}

	for _, bad := range []string{"", "wxp_", token[:len(token)-1], token + "x", strings.ToUpper(token[:4]) + token[4:],
		"wxp_" + strings.Repeat("A", 40)} {
		if _, err := s.AuthenticateAPIToken(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %q: err %v, want ErrNotFound", bad, err)
		}
	}

	if err := s.RevokeAPIToken(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPIToken(ctx, token); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("revoked token: err %v, want ErrRevoked", err)
	}
	first := c.Now()
	c.Advance(time.Hour)
	if err := s.RevokeAPIToken(ctx, rec.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := s.RevokeAPIToken(ctx, rec.ID+100); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking an unknown token: %v", err)
	}
	list, err := s.APITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Revoked() || !list[0].RevokedAt.Equal(first) {
		t.Fatalf("list %+v, want the token revoked at its first revocation", list)
	}
}

func TestAPIToken_LastUsedWrittenAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	token, rec, err := s.CreateAPIToken(ctx, "busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	start := c.Now()
	lastUsed := func() time.Time {
		t.Helper()
		r, err := s.APIToken(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r.LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new token is already used")
	}
	for range 5 {
		if _, err := s.AuthenticateAPIToken(ctx, token); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second)
	}
	if got := lastUsed(); !got.Equal(start) {
		t.Fatalf("last used %v after 5 uses within 50 s, want the first use %v", got, start)
	}
	c.Advance(20 * time.Second) // a minute after the first use
	if _, err := s.AuthenticateAPIToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(c.Now()) {
		t.Fatalf("last used %v, want %v", got, c.Now())
	}
}

func TestAPIToken_DatabaseHoldsOnlyTheHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	token, _, err := s.CreateAPIToken(ctx, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, prefix string
	var hash []byte
	if err := db.QueryRow(`SELECT name, prefix, token_hash FROM api_tokens`).Scan(&name, &prefix, &hash); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(token))
	if string(hash) != string(want[:]) {
		t.Error("token_hash is not the SHA-256 of the token")
	}
	if strings.Contains(name+prefix+string(hash), token[8:]) || len(prefix) != 8 {
		t.Errorf("the row reveals the token: name %q prefix %q", name, prefix)
	}
	// Nor anywhere else in the files (the WAL included).
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), token[8:]) {
			t.Errorf("%s contains the token", filepath.Base(f))
		}
	}
}
