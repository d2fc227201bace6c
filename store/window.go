package store

import (
	"context"
	"strings"
	"time"
)

// TextSentSince returns, by openid, when each customer-service text to it
// was queued since since: every delivery not refused (queued, sending,
// retrying or sent), as each takes one of the messages WeChat allows in a
// customer-service window.
func (s *Store) TextSentSince(ctx context.Context, since time.Time) (map[string][]time.Time, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT openid, created_at FROM deliveries WHERE kind = ? AND state != 'failed' AND created_at >= ?`,
		KindText, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	for rows.Next() {
		var openid string
		var at int64
		if err := rows.Scan(&openid, &at); err != nil {
			return nil, err
		}
		out[openid] = append(out[openid], fromMs(at))
	}
	return out, rows.Err()
}

// RetryFailedExcept re-queues a message's failed deliveries, except those
// that failed with one of codes (retrying them would fail the same way).
func (s *Store) RetryFailedExcept(ctx context.Context, messageID int64, now time.Time, codes []int) (int64, error) {
	q := `UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?,
		   errcode = 0, errmsg = ''
		 WHERE message_id = ? AND state = 'failed'`
	args := []any{now.UnixMilli(), now.UnixMilli(), messageID}
	if len(codes) > 0 {
		q += ` AND errcode NOT IN (?` + strings.Repeat(", ?", len(codes)-1) + `)`
		for _, c := range codes {
			args = append(args, c)
		}
	}
	res, err := s.wdb.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
