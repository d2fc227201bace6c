package store

import (
	"context"
	"time"
)

// Retention says how long old rows are kept; a zero duration keeps them
// forever. Expired sessions and binding tokens a day past their expiry are
// always deleted: nothing reads them any more.
type Retention struct {
	Messages time.Duration // messages whose every delivery is final, with their deliveries
	Inbound  time.Duration // pushes from WeChat (their de-duplication use is over in seconds)
	Audit    time.Duration // the admin audit log
	Webhooks time.Duration // webhook events whose deliveries all finished, with their delivery log
}

// Pruned counts what one Prune deleted.
type Pruned struct {
	Messages   int64
	Deliveries int64
	Inbound    int64
	Audit      int64
	// PendingReceipts: receipts kept for a msgid that never came, a day
	// after their arrival (always pruned, whatever the Retention).
	PendingReceipts int64
	// IdempotencyKeys: clients' Idempotency-Keys older than a day (always pruned).
	IdempotencyKeys int64
	Sessions        int64 // expired sessions
	BindTokens      int64 // binding tokens expired for more than a day
	Webhooks        int64 // webhook events
}

// pruneBatch bounds one delete transaction, so that pruning a large
// backlog (a broadcast has one delivery per user) never holds the single
// write connection, and with it the outbox, for long.
const pruneBatch = 2000

// finalOld selects the messages Prune may delete: created before the
// cutoff, and with no delivery still pending.
const finalOld = `m.created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries p
	WHERE p.message_id = m.id AND p.state NOT IN ('sent', 'failed', 'unknown'))`

// Prune deletes what r no longer keeps, measured from the store's clock.
// A message goes only when it was created before the cutoff and none of
// its deliveries is still pending. Its deliveries are deleted first, in
// batches (ON DELETE CASCADE would delete a whole broadcast's in one
// statement); a half-pruned message stays eligible and goes next time.
func (s *Store) Prune(ctx context.Context, r Retention) (Pruned, error) {
	var p Pruned
	now := s.now()
	var err error
	if p.Sessions, err = s.pruneSessions(ctx, now); err != nil {
		return p, err
	}
	if p.BindTokens, err = s.pruneBindTokens(ctx, now); err != nil {
		return p, err
	}
	if r.Messages > 0 {
		cutoff := now.Add(-r.Messages).UnixMilli()
		p.Deliveries, err = s.deleteBatches(ctx,
			`DELETE FROM deliveries WHERE id IN (SELECT d.id FROM messages m
			   JOIN deliveries d ON d.message_id = m.id WHERE `+finalOld+` LIMIT ?)`, cutoff)
		if err != nil {
			return p, err
		}
		p.Messages, err = s.deleteBatches(ctx,
			`DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m WHERE `+finalOld+` LIMIT ?)`, cutoff)
		if err != nil {
			return p, err
		}
	}
	if r.Inbound > 0 {
		if p.Inbound, err = s.PruneInbound(ctx, now.Add(-r.Inbound)); err != nil {
			return p, err
		}
	}
	if p.PendingReceipts, err = s.prunePendingReceipts(ctx, now); err != nil {
		return p, err
	}
	if p.IdempotencyKeys, err = s.pruneIdempotencyKeys(ctx, now); err != nil {
		return p, err
	}
	if r.Audit > 0 {
		p.Audit, err = s.deleteBatches(ctx,
			`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? LIMIT ?)`,
			now.Add(-r.Audit).UnixMilli())
		if err != nil {
			return p, err
		}
	}
	if r.Webhooks > 0 {
		p.Webhooks, err = s.PruneWebhooks(ctx, now.Add(-r.Webhooks))
	}
	return p, err
}

// deleteBatches runs query (with the cutoff and a batch size) until it
// deletes nothing more.
func (s *Store) deleteBatches(ctx context.Context, query string, cutoff int64) (int64, error) {
	var total int64
	for {
		res, err := s.wdb.ExecContext(ctx, query, cutoff, pruneBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// RunRetention prunes at once and then every interval until ctx ends,
// handing each outcome to report (which logs it).
func (s *Store) RunRetention(ctx context.Context, r Retention, every time.Duration, report func(Pruned, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p, err := s.Prune(ctx, r)
		if ctx.Err() != nil {
			return
		}
		report(p, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
