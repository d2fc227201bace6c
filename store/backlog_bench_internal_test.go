package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkBacklog reads the backlog (a bounded count and the oldest) and
// one message's place in it, over 1,000,000 deliveries of which queued is
// the given number: a poll of the dashboard, a message page, /readyz or
// GET /api/v1/messages/{id} costs this, whatever the sent history.
//
//	go test -run '^$' -bench Backlog -benchtime=200x ./store/
func BenchmarkBacklog(b *testing.B) {
	const total = 1_000_000
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "wxpush.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UnixMilli()
	err = s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages(id, kind, body, source, total, created_at) VALUES(1, 'text', 'x', 'cli', ?, ?)`, total, now); err != nil {
			return err
		}
		// Sent history first, then 200,000 queued at the end.
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
			INSERT INTO deliveries(id, message_id, kind, openid, state, next_attempt_at, created_at, updated_at)
			SELECT i, 1, 'text', 'o' || i, CASE WHEN i > ? THEN 'queued' ELSE 'sent' END, ?, ?, ? FROM n`,
			total, total-200_000, now, now, now)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	b.ResetTimer()
	for range b.N {
		bl, err := s.Backlog(ctx, at, 100_000)
		if err != nil || !bl.Capped || bl.Depth != 100_000 {
			b.Fatalf("%+v, %v", bl, err)
		}
		n, capped, err := s.BacklogAhead(ctx, 1, 100_000)
		if err != nil || !capped || n != 100_000 {
			b.Fatalf("ahead %d %v %v", n, capped, err)
		}
	}
}
