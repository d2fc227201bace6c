package store

import (
	"context"
	"time"
)

// Receipt values of a delivery (from TEMPLATESENDJOBFINISH, docs/wechat.md §7).
const (
	ReceiptDelivered = "delivered"
	ReceiptBlocked   = "blocked"
	ReceiptSysFailed = "sysfailed"
)

// Inbound is a message or event WeChat pushed, as stored.
type Inbound struct {
	DedupKey      string
	OpenID        string
	MsgType       string // text, event, …
	Event         string // subscribe, unsubscribe, SCAN, TEMPLATESENDJOBFINISH, …
	EventKey      string
	Content       string
	CreatedAt     time.Time // WeChat's CreateTime
	TemplateMsgID int64     // TEMPLATESENDJOBFINISH
	Receipt       string    // TEMPLATESENDJOBFINISH: ReceiptDelivered, …
}

// IngestInbound records a pushed message or event and applies its effects
// in the same transaction: follow state, the customer-service window,
// delivery receipts. dup is true (and nothing changes) when the same message
// was already recorded — WeChat retries unanswered pushes (docs/wechat.md §7).
//
// Concurrent calls are committed together (group commit, see batched), so
// a burst of pushes costs one commit, not one each.
func (s *Store) IngestInbound(ctx context.Context, in Inbound) (dup bool, err error) {
	err = s.batched(ctx, func(tx *wtx) error {
		var err error
		dup, err = s.ingestOne(tx, in)
		return err
	})
	return dup, err
}

func (s *Store) ingestOne(tx *wtx, in Inbound) (dup bool, err error) {
	ctx := context.Background()
	now := s.nowMs()
	at := in.CreatedAt.UnixMilli()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO inbound_events(dedup_key, openid, msg_type, event, event_key, content, created_at, received_at)
		 VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO NOTHING`,
		in.DedupKey, in.OpenID, in.MsgType, in.Event, in.EventKey, in.Content, at, now)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return true, nil
	}
	switch {
	case in.MsgType != "event":
		// A message from the user: 5 messages within 48 h (docs/wechat.md §4).
		_, err = tx.ExecContext(ctx, touchSQL, in.OpenID, at)
	case in.Event == "subscribe":
		if _, err = tx.ExecContext(ctx, setFollowingSQL, in.OpenID, true, at); err == nil {
			_, err = tx.ExecContext(ctx, eventSQL, in.OpenID, at)
		}
	case in.Event == "unsubscribe":
		_, err = tx.ExecContext(ctx, setFollowingSQL, in.OpenID, false, at)
	case in.Event == "SCAN" || in.Event == "CLICK" || in.Event == "scancode_push" || in.Event == "scancode_waitmsg":
		// 3 messages within 1 minute (docs/wechat.md §4); the user evidently follows.
		if _, err = tx.ExecContext(ctx, eventSQL, in.OpenID, at); err == nil {
			_, err = tx.ExecContext(ctx, setFollowingSQL, in.OpenID, true, at)
		}
	case in.Event == "TEMPLATESENDJOBFINISH" && in.TemplateMsgID != 0:
		err = applyReceipt(ctx, tx, in.TemplateMsgID, in.Receipt, now)
	}
	if err == nil {
		err = s.inboundEvents(ctx, tx, in) // integrations: webhook events, metrics
	}
	return false, err
}

const eventSQL = `INSERT INTO followers(openid, last_event_at) VALUES(?, ?)
	ON CONFLICT(openid) DO UPDATE SET last_event_at = max(COALESCE(followers.last_event_at, 0), excluded.last_event_at)`

// CountInbound is how many pushes are recorded (benchmarks compare it with
// what was sent).
func (s *Store) CountInbound(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM inbound_events`).Scan(&n)
	return n, err
}

// PruneInbound deletes pushes received before t; their de-duplication
// purpose (WeChat retries within seconds) is long over.
func (s *Store) PruneInbound(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM inbound_events WHERE received_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
