package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Claims and leases. ClaimDueFor marks deliveries sending under a lease;
// the claimer renews the leases it still holds (Sweep) and records each
// outcome (RecordResults). A delivery whose lease expired is taken back,
// and what that means depends on what may have happened to it:
//
//   - a customer-service text whose request may have been written
//     (StartAttempt was recorded) becomes unknown: it has no client_msg_id,
//     so a resend could deliver it twice;
//   - a text never started goes back to the queue;
//   - a template message goes back to the queue, remembering that the
//     attempt may have reached WeChat (maybe_sent_at): its resend carries the
//     same client_msg_id, which WeChat de-duplicates for about 10 minutes
//     (template message API page, client_msg_id), and the outbox resends it
//     only inside that window.
//
// A claim never counts an attempt; an attempt that got no answer is free.

// ErrClaimLost is returned for a delivery no longer held under the claim
// given: its lease expired and it was taken back.
var ErrClaimLost = errors.New("delivery no longer claimed")

// interruptedMsg explains an unknown delivery taken back while in flight.
const interruptedMsg = "发送过程中断（服务停止或崩溃），无法确定微信是否已收到这条消息；为避免重复，不会自动重发。"

// StartAttempt records that the request of d's current attempt is about to
// be written to WeChat. The outbox calls it for customer-service text only
// (see above), and sends nothing unless it returned nil: ErrClaimLost when
// d's claim is no longer current. It goes through the group commit.
func (s *Store) StartAttempt(ctx context.Context, d Delivery, now time.Time) error {
	var n int64
	err := s.batched(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET started_at = ? WHERE id = ? AND state = 'sending' AND claimed_at = ?`,
			now.UnixMilli(), d.ID, d.ClaimedAt.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrClaimLost
	}
	return nil
}

// Swept counts what one Sweep or ResumeInterrupted did.
type Swept struct {
	Renewed  int64 // leases renewed
	Requeued int64 // taken back and queued again, due at once
	Unknown  int64 // taken back as unknown (a text that may have been sent)
}

// reclaimSQL takes deliveries back from state sending (the WHERE clause is
// completed by the caller). Arguments: errmsg, now (four times).
const reclaimSQL = `UPDATE deliveries SET
	  state = CASE WHEN kind = 'text' AND started_at IS NOT NULL THEN 'unknown' ELSE 'retrying' END,
	  errcode = CASE WHEN kind = 'text' AND started_at IS NOT NULL THEN 0 ELSE errcode END,
	  errmsg = CASE WHEN kind = 'text' AND started_at IS NOT NULL THEN ? ELSE errmsg END,
	  maybe_sent_at = CASE WHEN kind = 'template' OR started_at IS NOT NULL
	    THEN COALESCE(maybe_sent_at, claimed_at, ?) ELSE maybe_sent_at END,
	  next_attempt_at = ?, updated_at = ?, lease_until = NULL, started_at = NULL
	WHERE state = 'sending'`

func (s *Store) reclaim(ctx context.Context, tx *wtx, now time.Time, where string, args ...any) (Swept, error) {
	ms := now.UnixMilli()
	rows, err := tx.QueryContext(ctx, reclaimSQL+where+` RETURNING state`,
		append([]any{interruptedMsg, ms, ms, ms}, args...)...)
	if err != nil {
		return Swept{}, err
	}
	defer rows.Close()
	var sw Swept
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return Swept{}, err
		}
		if st == StateUnknown {
			sw.Unknown++
		} else {
			sw.Requeued++
		}
	}
	return sw, rows.Err()
}

// Sweep renews until leaseUntil the leases of held (the deliveries the
// caller still holds: claimed and not yet recorded) and takes back every
// other delivery whose lease expired at now — in one transaction, so that
// a held delivery is never taken back.
func (s *Store) Sweep(ctx context.Context, now time.Time, held []int64, leaseUntil time.Time) (Swept, error) {
	ids := idList(held)
	var sw Swept
	err := s.tx(ctx, func(tx *wtx) error {
		sw = Swept{}
		if len(held) > 0 {
			res, err := tx.ExecContext(ctx,
				`UPDATE deliveries SET lease_until = ? WHERE state = 'sending' AND id IN (SELECT value FROM json_each(?))`,
				leaseUntil.UnixMilli(), ids)
			if err != nil {
				return err
			}
			if sw.Renewed, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		r, err := s.reclaim(ctx, tx, now,
			` AND (lease_until IS NULL OR lease_until <= ?) AND id NOT IN (SELECT value FROM json_each(?))`,
			now.UnixMilli(), ids)
		sw.Requeued, sw.Unknown = r.Requeued, r.Unknown
		return err
	})
	return sw, err
}

// ResumeInterrupted takes back every delivery left in state sending,
// leased or not: at start-up, when nothing else may hold one (wxpush runs
// one server per database).
func (s *Store) ResumeInterrupted(ctx context.Context, now time.Time) (Swept, error) {
	var sw Swept
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		sw, err = s.reclaim(ctx, tx, now, "")
		return err
	})
	return sw, err
}

// ResendUnknown queues again, with fresh attempt counts, the deliveries of a
// message whose outcome is unknown: an admin decided that a possible
// duplicate is better than a possibly missing message. It returns how many.
func (s *Store) ResendUnknown(ctx context.Context, messageID int64, now time.Time) (int64, error) {
	return s.execBatches(ctx,
		`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?,
		   errcode = 0, errmsg = '', maybe_sent_at = NULL
		 WHERE id IN (SELECT id FROM deliveries WHERE message_id = ? AND state = 'unknown' LIMIT ?)`,
		now.UnixMilli(), now.UnixMilli(), messageID)
}

// idList is ids as a JSON array, for json_each.
func idList(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

func optMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMs(ms)
}
