package store

import (
	"context"
	"errors"
	"fmt"
)

// Group commit. SQLite has one writer; a transaction per request makes
// every request pay a commit and wait its turn. Writes that many requests
// make at once (WeChat pushes, API sends) go through batched instead: one
// goroutine takes whatever writes are waiting, runs each in a savepoint of
// one transaction — so one write's failure undoes only that write — and
// commits them together. Each caller still waits for the commit, so a
// write that returned nil is durable.

type writeReq struct {
	fn   func(tx *wtx) error
	done chan error
}

// maxBatch bounds one group commit.
const maxBatch = 256

// batched runs fn in the next group commit and returns its outcome.
func (s *Store) batched(ctx context.Context, fn func(tx *wtx) error) error {
	req := writeReq{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errors.New("store closed")
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // it may still commit
	}
}

// writeLoop is the single goroutine behind batched.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]writeReq, 0, maxBatch)
	errs := make([]error, maxBatch)
	for {
		select {
		case r := <-s.writes:
			batch = append(batch[:0], r)
		case <-s.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break more
			}
		}
		ctx := context.Background()
		err := s.tx(ctx, func(tx *wtx) error {
			for i, r := range batch {
				errs[i] = nil
				if len(batch) == 1 {
					errs[i] = r.fn(tx)
					return errs[i]
				}
				if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
					return err
				}
				if errs[i] = r.fn(tx); errs[i] != nil {
					if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
						return fmt.Errorf("rollback to savepoint: %w", err)
					}
				}
				if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
					return err
				}
			}
			return nil
		})
		for i, r := range batch {
			if err != nil && (len(batch) > 1 || errs[i] == nil) {
				// The commit itself failed: nothing was written.
				r.done <- err
				continue
			}
			r.done <- errs[i]
		}
	}
}
