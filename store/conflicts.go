package store

import (
	"context"
	"database/sql"
	"time"
)

// TokenConflict is a recorded sign that another system refreshes the
// app's access token (wechat.TokenConflict).
type TokenConflict struct {
	At      time.Time
	Kind    string
	ErrCode int
	Left    time.Duration
}

// RecordTokenConflict stores a conflict sign with its audit entry, in one
// transaction.
func (s *Store) RecordTokenConflict(ctx context.Context, c TokenConflict, audit AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_conflicts(at, kind, errcode, left_ms) VALUES(?, ?, ?, ?)`,
			c.At.UnixMilli(), c.Kind, c.ErrCode, c.Left.Milliseconds()); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit, c.At)
	})
}

// TokenConflictsSince counts the conflict signs at or after since and
// returns the last one's time (zero when none).
func (s *Store) TokenConflictsSince(ctx context.Context, since time.Time) (n int, last time.Time, err error) {
	var ms sql.NullInt64
	err = s.rdb.QueryRowContext(ctx, `SELECT count(*), max(at) FROM token_conflicts WHERE at >= ?`, since.UnixMilli()).Scan(&n, &ms)
	if ms.Valid {
		last = fromMs(ms.Int64)
	}
	return n, last, err
}
