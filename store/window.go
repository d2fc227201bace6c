package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// ViaTemplate is a text delivery's Via when it was sent as its message's
// fallback template (the user was outside WeChat's customer-service window).
const ViaTemplate = "template"

// WindowState is what the store knows of an openid's customer-service
// windows: the user's last message and last follow/scan/click, whether
// they unfollowed, and the customer-service texts sent to them since.
type WindowState struct {
	LastMessage time.Time
	LastEvent   time.Time
	Unfollowed  bool
	Sent        []time.Time // texts delivered as text since the earlier of the two
}

// windowHorizon is the longest a customer-service window lasts (48 hours):
// texts sent before it cannot count against an open window.
const windowHorizon = 48 * time.Hour

// sentTextsSQL lists the texts that went out as texts (the partial index
// deliveries_text_sent covers it).
const sentTextsSQL = `SELECT openid, sent_at FROM deliveries
	WHERE kind = 'text' AND state = 'sent' AND via = '' AND sent_at >= ?`

// WindowState returns what is known of one openid's windows.
func (s *Store) WindowState(ctx context.Context, openid string) (WindowState, error) {
	var w WindowState
	var following, msg, ev sql.NullInt64
	err := s.rdb.QueryRowContext(ctx,
		`SELECT following, last_interaction_at, last_event_at FROM followers WHERE openid = ?`, openid).Scan(&following, &msg, &ev)
	if errors.Is(err, sql.ErrNoRows) {
		return w, nil
	}
	if err != nil {
		return w, err
	}
	w.Unfollowed = following.Valid && following.Int64 == 0
	if msg.Valid {
		w.LastMessage = fromMs(msg.Int64)
	}
	if ev.Valid {
		w.LastEvent = fromMs(ev.Int64)
	}
	since := w.LastMessage
	if since.IsZero() || (!w.LastEvent.IsZero() && w.LastEvent.Before(since)) {
		since = w.LastEvent
	}
	if since.IsZero() {
		return w, nil
	}
	rows, err := s.rdb.QueryContext(ctx, sentTextsSQL+` AND openid = ? ORDER BY sent_at DESC LIMIT 32`, since.UnixMilli(), openid)
	if err != nil {
		return w, err
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		var at int64
		if err := rows.Scan(&o, &at); err != nil {
			return w, err
		}
		w.Sent = append(w.Sent, fromMs(at))
	}
	return w, rows.Err()
}

// TextsSent maps each openid to the texts delivered to it as texts in the
// last 48 hours (what can still count against a window), for the compose
// page's forecast of who gets text and who the fallback template.
func (s *Store) TextsSent(ctx context.Context, now time.Time) (map[string][]time.Time, error) {
	rows, err := s.rdb.QueryContext(ctx, sentTextsSQL, now.Add(-windowHorizon).UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	for rows.Next() {
		var o string
		var at int64
		if err := rows.Scan(&o, &at); err != nil {
			return nil, err
		}
		out[o] = append(out[o], fromMs(at))
	}
	return out, rows.Err()
}

// TextSentSince returns, by openid, when each customer-service text to it
// was queued since since: every delivery not refused (queued, sending,
// retrying or sent), as each takes one of the messages WeChat allows in a
// customer-service window.
func (s *Store) TextSentSince(ctx context.Context, since time.Time) (map[string][]time.Time, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT openid, created_at FROM deliveries WHERE kind = ? AND state != 'failed' AND via = '' AND created_at >= ?`,
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

// RetryFailedExcept is RetryFailed, except for the deliveries that failed
// with one of codes (retrying them would fail the same way).
func (s *Store) RetryFailedExcept(ctx context.Context, messageID int64, now time.Time, codes []int) (int64, error) {
	except := ""
	args := []any{now.UnixMilli(), now.UnixMilli(), messageID}
	if len(codes) > 0 {
		except = ` AND errcode NOT IN (?` + strings.Repeat(", ?", len(codes)-1) + `)`
		for _, c := range codes {
			args = append(args, c)
		}
	}
	return s.execBatches(ctx,
		`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?,
		   errcode = 0, errmsg = '', maybe_sent_at = NULL
		 WHERE id IN (SELECT id FROM deliveries WHERE message_id = ? AND state = 'failed'`+except+`
		   AND openid <> '' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = deliveries.user_id AND u.disabled_at IS NOT NULL)
		   LIMIT ?)`,
		args...)
}
