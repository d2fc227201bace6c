package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Chunked enqueue. SQLite has one writer: while one transaction writes,
// every other write waits (and fails after the busy timeout). Writing a
// broadcast to 100,000 followers in one transaction held the write lock
// for seconds, long enough to make the outbox's result writes fail. A send
// to more than enqueueChunk recipients is therefore written in chunks, one
// transaction each:
//
//  1. the message, marked preparing (preparing_at), with the first chunk;
//  2. one transaction per further chunk, each renewing preparing_at;
//  3. the last chunk, which clears preparing_at and writes the audit entry.
//
// Until step 3 commits nothing claims, lists or counts the message, so
// callers see the same all-or-nothing send as with one transaction. A failed
// enqueue deletes what it wrote; one whose process died is deleted by
// DropAbandonedEnqueues once its preparing_at is older than abandonedAfter.
// Dropping first marks the message (preparing_at 0), so that an enqueue
// still running — stalled for that long — fails at its next chunk instead
// of completing a message whose first chunks are gone.

// enqueueChunk is the most deliveries one enqueue transaction writes. A
// chunk of 1,000 holds the write lock for about 10–20 ms on the benchmark
// machine (BenchmarkEnqueue100k); the bound is ~200 ms.
const enqueueChunk = 1000

// abandonedAfter is how old a preparing message's last chunk must be for
// it to count as abandoned. A live enqueue writes a chunk at least every
// busy timeout (a chunk that cannot get the write lock by then fails the
// whole enqueue), so this is far beyond any live one.
const abandonedAfter = time.Minute

// batchSize bounds the rows one transaction of execBatches updates.
const batchSize = 2000

// errEnqueueRaced: an abandoned-enqueue cleanup removed part of a message
// whose enqueue was still running (it must have stalled for a minute).
var errEnqueueRaced = errors.New("enqueue: the partly written message was removed as abandoned")

func insertDeliveries(ctx context.Context, tx *wtx, m Message, rcpts []Recipient, now int64) error {
	for _, r := range rcpts {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO deliveries(message_id, kind, user_id, openid, next_attempt_at, created_at, updated_at)
			 VALUES(?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.Kind, nullID(r.UserID), r.OpenID, now, now, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) enqueueChunked(ctx context.Context, m Message, data string, rcpts []Recipient,
	audit func(Message) AuditEntry, now int64) (Message, error) {
	first, rest := rcpts[:enqueueChunk], rcpts[enqueueChunk:]
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkRecipientsActive(ctx, tx, first); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO messages(kind, body, template_id, data, url, source, created_by, total, created_at, preparing_at)
			 VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Kind, m.Body, m.TemplateID, data, m.URL, m.Source, nullID(m.CreatedBy), m.Total, now, s.nowMs())
		if err != nil {
			return err
		}
		if m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if err := insertDeliveries(ctx, tx, m, first, now); err != nil {
			return err
		}
		return insertExtras(ctx, tx, m)
	})
	if err != nil {
		return Message{}, err
	}
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), enqueueChunk)]
		rest = rest[len(chunk):]
		last := len(rest) == 0
		err = s.tx(ctx, func(tx *wtx) error {
			if err := checkRecipientsActive(ctx, tx, chunk); err != nil {
				return err
			}
			if err := insertDeliveries(ctx, tx, m, chunk, now); err != nil {
				return err
			}
			if !last {
				return touchPreparing(ctx, tx, m.ID, s.nowMs())
			}
			if err := touchPreparing(ctx, tx, m.ID, nil); err != nil {
				return err
			}
			// The key is written where the message becomes visible: a
			// concurrent retry that wins makes this enqueue fail (and its
			// chunks go), and Send answers with the winner's message.
			if m.Idempotency != nil {
				if err := insertIdempotencyKey(ctx, tx, m, now); err != nil {
					return err
				}
			}
			if audit != nil {
				return insertAudit(ctx, tx, audit(m), s.now())
			}
			return nil
		})
		if err != nil {
			// Best effort: what is left goes with DropAbandonedEnqueues.
			if derr := s.dropPreparing(context.WithoutCancel(ctx), m.ID, math.MaxInt64); derr != nil {
				err = fmt.Errorf("%w (and removing the partly written message: %v)", err, derr)
			}
			return Message{}, err
		}
	}
	m.Counts = DeliveryCounts{Queued: m.Total}
	return m, nil
}

// touchPreparing sets a preparing message's preparing_at (nil: ready),
// unless it is gone or being dropped (errEnqueueRaced).
func touchPreparing(ctx context.Context, tx *wtx, id int64, at any) error {
	res, err := tx.ExecContext(ctx, `UPDATE messages SET preparing_at = ? WHERE id = ? AND preparing_at > 0`, at, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errEnqueueRaced
	}
	return nil
}

// dropPreparing deletes a message still preparing whose preparing_at is
// before cutoff (ms): it marks it dropped (preparing_at 0; it can no longer
// become ready), deletes its deliveries a batch per transaction, then it.
func (s *Store) dropPreparing(ctx context.Context, id, cutoff int64) error {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE messages SET preparing_at = 0 WHERE id = ? AND preparing_at IS NOT NULL AND preparing_at < ?`, id, cutoff)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil || n == 0 {
		return err // gone, complete, or no longer abandoned
	}
	if _, err := s.execBatches(ctx,
		`DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE message_id = ? LIMIT ?)`, id); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ? AND preparing_at = 0`, id)
		return err
	})
}

// DropAbandonedEnqueues deletes the partly written messages whose enqueue
// stopped (its process died) more than a minute ago, by the store's clock,
// and returns how many. The running outbox calls it at start and then
// periodically.
func (s *Store) DropAbandonedEnqueues(ctx context.Context) (int64, error) {
	cutoff := s.now().Add(-abandonedAfter).UnixMilli()
	rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM messages WHERE preparing_at IS NOT NULL AND preparing_at < ?`, cutoff)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.dropPreparing(ctx, id, cutoff); err != nil {
			return int64(i), err
		}
	}
	return int64(len(ids)), nil
}

// execBatches runs an UPDATE or DELETE whose last argument is a LIMIT
// (batchSize), one transaction per batch, until a batch touches fewer rows:
// so that no transaction holds the write lock for long. It returns the rows
// touched in all.
func (s *Store) execBatches(ctx context.Context, query string, args ...any) (int64, error) {
	args = append(args, batchSize)
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < batchSize {
			return total, nil
		}
	}
}
