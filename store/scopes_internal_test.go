package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// A token made before scopes existed (schema version 4) keeps every scope
// once the integrations migration runs.
func TestMigration_ExistingAPITokensKeepAllScopes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	old, err := openNoMigrate(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.provider().UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := old.wdb.ExecContext(ctx,
		`INSERT INTO api_tokens(name, token_hash, prefix, created_at) VALUES('ci', x'00', 'wxp_abcd', 1)`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts, err := s.APITokens(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("tokens %v %v", ts, err)
	}
	if !slices.Equal(ts[0].Scopes, AllScopes) {
		t.Fatalf("scopes after migrating: %v, want %v", ts[0].Scopes, AllScopes)
	}
	_, limited, err := s.CreateScopedAPIToken(ctx, "reader", 0, []string{ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.APIToken(ctx, limited.ID)
	if !got.HasScope(ScopeRead) || got.HasScope(ScopeSend) || got.HasScope(ScopeManage) {
		t.Fatalf("a read-only token reads back with %v", got.Scopes)
	}
}
