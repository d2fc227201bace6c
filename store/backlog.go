package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Backlog is the outbox's queue: deliveries queued or waiting to retry.
// Depth is counted up to a limit: past it, Capped is set and Depth is the
// limit (a poll never reads millions of rows).
type Backlog struct {
	Depth  int
	Capped bool
	// Oldest is how long the oldest delivery in the backlog has waited
	// since it was queued; zero when the backlog is empty.
	Oldest time.Duration
}

// Backlog reports the outbox's queue at now, counting at most limit
// deliveries (limit <= 0: 100,000). It reads the deliveries_backlog index
// only.
func (s *Store) Backlog(ctx context.Context, now time.Time, limit int) (Backlog, error) {
	if limit <= 0 {
		limit = 100_000
	}
	var b Backlog
	err := s.rdb.QueryRowContext(ctx,
		`SELECT count(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_backlog
		   WHERE state IN ('queued', 'retrying') LIMIT ?)`, limit+1).Scan(&b.Depth)
	if err != nil {
		return b, err
	}
	if b.Depth > limit {
		b.Depth, b.Capped = limit, true
	}
	if b.Depth == 0 {
		return b, nil
	}
	var created int64
	err = s.rdb.QueryRowContext(ctx,
		`SELECT created_at FROM deliveries INDEXED BY deliveries_backlog
		  WHERE state IN ('queued', 'retrying') ORDER BY id LIMIT 1`).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return Backlog{}, nil // sent meanwhile
	}
	if err != nil {
		return b, err
	}
	b.Oldest = max(0, now.Sub(fromMs(created)))
	return b, nil
}

// BacklogAhead is how much of the backlog a message's last queued
// delivery waits behind, itself included: the deliveries queued or
// retrying up to it in creation order, counted up to limit (Capped past
// it). The outbox claims due deliveries by due time then id, so this is
// the position of the message's end in the queue, give or take the
// retries scheduled later. Zero when none of the message's deliveries is
// queued.
func (s *Store) BacklogAhead(ctx context.Context, messageID int64, limit int) (n int, capped bool, err error) {
	if limit <= 0 {
		limit = 100_000
	}
	var last sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx,
		`SELECT max(id) FROM deliveries WHERE message_id = ? AND state = 'queued'`, messageID).Scan(&last); err != nil {
		return 0, false, err
	}
	if !last.Valid {
		return 0, false, nil
	}
	if err := s.rdb.QueryRowContext(ctx,
		`SELECT count(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_backlog
		   WHERE state IN ('queued', 'retrying') AND id <= ? LIMIT ?)`, last.Int64, limit+1).Scan(&n); err != nil {
		return 0, false, err
	}
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}
