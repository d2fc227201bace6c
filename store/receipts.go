package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Receipts that arrive first. WeChat pushes a template send's
// TEMPLATESENDJOBFINISH on its own connection, so it can reach /wechat
// before the send's HTTP answer has told the outbox the msgid it reports
// on (its MsgID is the send's msgid: WeChat's page 模板消息接口,
// Template_Message_Interface, "事件推送"). A receipt that matches no stored msgid is kept in
// pending_receipts and applied by the transaction that stores the msgid
// (RecordResults), so the delivery ends as WeChat reported it whichever
// arrived first. The writes are serialized on the single writer
// connection, so one of the two transactions always sees the other.
const (
	// pendingReceiptTTL: a kept receipt is applied only within a day of
	// its arrival. The send's answer follows its receipt within seconds; a
	// msgid stored later than that is not the one the receipt reported on
	// (a resend that late falls outside WeChat's 10-minute client_msg_id
	// window and gets a new msgid). Prune deletes expired ones.
	pendingReceiptTTL = 24 * time.Hour
	// pendingReceiptCap bounds the table: receipts for msgids that never
	// appear (sent by another program on the same account, or by a
	// restored backup) must not grow it without end. Past it the oldest go.
	pendingReceiptCap = 100_000
)

// applyReceipt records a TEMPLATESENDJOBFINISH receipt received at now
// (Unix ms) in ingestOne's transaction: on the delivery that holds msgid,
// or, when none does yet, as a pending receipt. A repeated receipt for a
// pending msgid replaces the kept value, keeping its arrival time.
func applyReceipt(ctx context.Context, tx *wtx, msgid int64, receipt string, now int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET receipt = ?, receipt_at = ? WHERE msgid = ?`, receipt, now, msgid)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var id int64
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO pending_receipts(msgid, receipt, received_at) VALUES(?, ?, ?)
		 ON CONFLICT(msgid) DO UPDATE SET receipt = excluded.receipt RETURNING id`,
		msgid, receipt, now).Scan(&id); err != nil {
		return err
	}
	// ids grow by one per new row (max(id) + 1), so at most
	// pendingReceiptCap rows have an id above id - pendingReceiptCap: one
	// rowid range delete, no count.
	_, err = tx.ExecContext(ctx, `DELETE FROM pending_receipts WHERE id <= ?`, id-pendingReceiptCap)
	return err
}

// applyPendingReceipts applies, in RecordResults' transaction, the pending
// receipts of the msgids rs store. A receipt is applied only to a delivery
// that now holds its msgid (a result that did not land leaves it for the
// attempt that will store the msgid), and then deleted; an expired one is
// left to Prune.
func (s *Store) applyPendingReceipts(ctx context.Context, tx *wtx, rs []Result) error {
	cutoff := s.now().Add(-pendingReceiptTTL).UnixMilli()
	for _, r := range rs {
		if r.MsgID == 0 {
			continue
		}
		var receipt string
		var at int64
		err := tx.QueryRowContext(ctx,
			`SELECT receipt, received_at FROM pending_receipts WHERE msgid = ?`, r.MsgID).Scan(&receipt, &at)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the usual case: the receipt comes later
		}
		if err != nil {
			return err
		}
		if at < cutoff {
			continue
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET receipt = ?, receipt_at = ? WHERE id = ? AND msgid = ?`,
			receipt, at, r.DeliveryID, r.MsgID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_receipts WHERE msgid = ?`, r.MsgID); err != nil {
			return err
		}
	}
	return nil
}

// prunePendingReceipts deletes the pending receipts that expired before
// now: their msgid never came.
func (s *Store) prunePendingReceipts(ctx context.Context, now time.Time) (int64, error) {
	return s.deleteBatches(ctx,
		`DELETE FROM pending_receipts WHERE id IN (SELECT id FROM pending_receipts WHERE received_at < ? LIMIT ?)`,
		now.Add(-pendingReceiptTTL).UnixMilli())
}

// PendingReceipts counts the receipts kept for msgids not stored (yet).
func (s *Store) PendingReceipts(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM pending_receipts`).Scan(&n)
	return n, err
}
