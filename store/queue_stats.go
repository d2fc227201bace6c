package store

import (
	"context"
	"time"
)

// QueueStat is the outbox's backlog of one message kind: deliveries
// queued or waiting to retry, and how long the oldest has waited since it
// was queued.
type QueueStat struct {
	Kind   string
	Depth  int
	Oldest time.Duration
}

// QueueStats reports the outbox's backlog by kind at now (metrics).
func (s *Store) QueueStats(ctx context.Context, now time.Time) ([]QueueStat, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT kind, count(*), min(created_at) FROM deliveries WHERE state IN ('queued', 'retrying') GROUP BY kind`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QueueStat
	for rows.Next() {
		var q QueueStat
		var oldest int64
		if err := rows.Scan(&q.Kind, &q.Depth, &oldest); err != nil {
			return nil, err
		}
		q.Oldest = max(0, now.Sub(fromMs(oldest)))
		out = append(out, q)
	}
	return out, rows.Err()
}
