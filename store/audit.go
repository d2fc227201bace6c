package store

import (
	"context"
	"time"
)

// AuditEntry is one admin action.
type AuditEntry struct {
	ID      int64
	At      time.Time
	ActorID int64
	Actor   string
	Action  string
	Target  string
	Detail  string
}

// Audit records an admin action.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.batched(ctx, func(tx *wtx) error { return insertAudit(ctx, tx, e, e.At) })
}

func insertAudit(ctx context.Context, tx *wtx, e AuditEntry, now time.Time) error {
	if e.At.IsZero() {
		e.At = now
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO audit_log(at, actor_id, actor, action, target, detail) VALUES(?, ?, ?, ?, ?, ?)`,
		e.At.UnixMilli(), nullID(e.ActorID), e.Actor, e.Action, e.Target, e.Detail)
	return err
}

// AuditLog lists the newest entries first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT id, at, COALESCE(actor_id, 0), actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMs(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
