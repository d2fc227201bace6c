package store

import (
	"context"
	"path/filepath"
	"testing"
)

// Migration 6 rebuilds deliveries (to allow state unknown) keeping every
// row; a row left sending gives back the attempt its claim had counted.
func TestMigration6_KeepsDeliveriesAndAllowsUnknown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	s, err := openNoMigrate(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider().UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO messages(id, kind, source, total, created_at) VALUES(1, 'text', 'cli', 3, 1)`,
		`INSERT INTO deliveries(id, message_id, kind, openid, state, attempts, next_attempt_at, created_at, updated_at, msgid, receipt)
		 VALUES(1, 1, 'text', 'o1', 'sending', 2, 5, 1, 1, NULL, ''),
		       (2, 1, 'text', 'o2', 'sent', 1, 5, 1, 1, 42, 'delivered'),
		       (3, 1, 'text', 'o3', 'failed', 6, 5, 1, 1, NULL, '')`,
	} {
		if _, err := s.wdb.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.provider().Up(ctx); err != nil {
		t.Fatal(err)
	}
	type row struct {
		state    string
		attempts int
		msgid    int64
		receipt  string
	}
	want := map[int64]row{1: {"sending", 1, 0, ""}, 2: {"sent", 1, 42, "delivered"}, 3: {"failed", 6, 0, ""}}
	for id, w := range want {
		var r row
		if err := s.wdb.DB.QueryRowContext(ctx, `SELECT state, attempts, COALESCE(msgid, 0), receipt FROM deliveries WHERE id = ?`, id).
			Scan(&r.state, &r.attempts, &r.msgid, &r.receipt); err != nil {
			t.Fatal(err)
		}
		if r != w {
			t.Errorf("delivery %d after migrating: %+v, want %+v", id, r, w)
		}
	}
	if _, err := s.wdb.DB.ExecContext(ctx, `UPDATE deliveries SET state = 'unknown' WHERE id = 1`); err != nil {
		t.Errorf("state unknown rejected after the migration: %v", err)
	}
	if _, err := s.wdb.DB.ExecContext(ctx, `UPDATE deliveries SET state = 'lost' WHERE id = 1`); err == nil {
		t.Error("the rebuilt table accepts any state: its CHECK is gone")
	}
	// And back down: unknown becomes failed, the closest state before.
	if _, err := s.provider().DownTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	var st string
	s.wdb.DB.QueryRowContext(ctx, `SELECT state FROM deliveries WHERE id = 1`).Scan(&st)
	if st != "failed" {
		t.Errorf("after migrating down: state %q, want failed", st)
	}
	s.Close()
}
