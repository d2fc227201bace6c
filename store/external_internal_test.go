package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// servedUser is a bound user with a binding token and an API token, all
// read once through s so that its cache holds them.
type servedUser struct {
	user  User
	bind  BindToken
	token string
	tokID int64
}

func serveUser(t *testing.T, s *Store) servedUser {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "alice", "password-alice", true, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, bt, err := s.NewBindToken(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteBinding(ctx, raw, Binding{OpenID: "oAlice"}); err != nil {
		t.Fatal(err)
	}
	token, at, err := s.CreateAPIToken(ctx, "ci", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPIToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, b, err := s.BindStatus(ctx, u.ID, bt.ID); err != nil || b == nil {
		t.Fatalf("BindStatus = %v, %v; want bound", b, err)
	}
	if _, ok := s.cache.apiToken(string(secretHash(token))); !ok {
		t.Fatal("API token not cached: the test would prove nothing")
	}
	return servedUser{u, bt, token, at.ID}
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetBcryptCost(bcrypt.MinCost)
	return s
}

// A token revoked and a user unbound by another process (wxpush CLI, the
// sqlite3 shell) stop working in the serving store at its next poll.
func TestExternalWrites_DropTheServersCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	server := openAt(t, path)
	u := serveUser(t, server)

	other := openAt(t, path) // another process, as far as SQLite can tell
	if err := other.RevokeAPIToken(ctx, u.tokID); err != nil {
		t.Fatal(err)
	}
	if err := other.Unbind(ctx, u.user.ID); err != nil {
		t.Fatal(err)
	}
	// Before the poll the server still answers from its cache: what the
	// poll is for.
	if _, err := server.AuthenticateAPIToken(ctx, u.token); err != nil {
		t.Fatalf("before the poll: %v; want the cached token (else this test proves nothing)", err)
	}

	if dropped, err := server.pollExternalWrites(ctx); err != nil || !dropped {
		t.Fatalf("poll after an external commit = %v, %v; want the cache dropped", dropped, err)
	}
	if _, err := server.AuthenticateAPIToken(ctx, u.token); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked token after the poll: err = %v, want ErrRevoked", err)
	}
	if _, b, err := server.BindStatus(ctx, u.user.ID, u.bind.ID); err != nil || b != nil {
		t.Errorf("unbound user after the poll: binding %+v, %v; want none", b, err)
	}
	if rs, err := server.Recipients(ctx, false, []int64{u.user.ID}); err != nil || len(rs) != 0 {
		t.Errorf("unbound user still a recipient: %+v, %v", rs, err)
	}
	if dropped, err := server.pollExternalWrites(ctx); err != nil || dropped {
		t.Errorf("second poll = %v, %v; want nothing new", dropped, err)
	}
}

// The store's own writes — single transactions, group commits, plain
// statements on the write connection, migrations — and its background
// checkpoints (PASSIVE, checkpointLoop's) do not count as external: the
// cache stays.
func TestExternalWrites_OwnWritesKeepTheCache(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "wxpush.db"))
	u := serveUser(t, s)
	for i := range 300 {
		if _, err := s.IngestInbound(ctx, Inbound{DedupKey: fmt.Sprint("k", i),
			OpenID: "oAlice", MsgType: "text", Content: "hi", CreatedAt: s.now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnqueueMessage(ctx, Message{Kind: KindText, Body: "x", Source: "test"},
			[]Recipient{{UserID: u.user.ID, OpenID: "oAlice"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.CreateAPIToken(ctx, "other", u.user.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.ckdb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnqueueMessage(ctx, Message{Kind: KindText, Body: fmt.Sprint("after checkpoint ", i), Source: "test"},
			[]Recipient{{UserID: u.user.ID, OpenID: "oAlice"}}); err != nil {
			t.Fatal(err)
		}
		if dropped, err := s.pollExternalWrites(ctx); err != nil || dropped {
			t.Fatalf("after own writes and checkpoint %d: poll = %v, %v; want the cache kept", i, dropped, err)
		}
	}
	if _, ok := s.cache.apiToken(string(secretHash(u.token))); !ok {
		t.Error("own writes emptied the cache")
	}
}

// The running store polls by itself: the revocation is seen without any
// call from the test.
func TestExternalWrites_SeenWithoutAsking(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	server := openAt(t, path)
	u := serveUser(t, server)
	if err := openAt(t, path).RevokeAPIToken(ctx, u.tokID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := server.AuthenticateAPIToken(ctx, u.token)
		if errors.Is(err, ErrRevoked) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revocation by another store not seen after 10 s (polls every %v): err = %v", externalPollEvery, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
