package store

import (
	"context"
	"errors"
	"runtime"
)

// Group commit. SQLite has one writer; a transaction per request makes
// every request pay a commit and wait its turn. Writes that many requests
// make at once (WeChat pushes, API sends) go through batched instead: one
// goroutine takes whatever writes are waiting, runs them in one
// transaction and commits them together. Each caller still waits for the
// commit, so a write that returned nil is durable.
//
// Writes rarely fail, so a batch runs without savepoints (a SAVEPOINT and a
// RELEASE around each write were 2 of its 5 statements); when one fails,
// the batch is rolled back and redone one transaction per write. A write's
// fn may therefore run twice: it must only set its own results.

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
		// Let goroutines that are about to submit a write do so first: a
		// no-op when nothing else is runnable (no added latency when
		// quiet); under load it gathers a bigger batch for the one commit.
		runtime.Gosched()
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
		failed := -1
		err := s.tx(ctx, func(tx *wtx) error {
			for i, r := range batch {
				if errs[i] = r.fn(tx); errs[i] != nil {
					failed = i
					return errs[i]
				}
			}
			return nil
		})
		if failed >= 0 && len(batch) > 1 {
			// One write failed and took the batch with it: redo the batch
			// one write per transaction, in order, so each gets its own
			// outcome — what running them one by one would have given.
			for i, r := range batch {
				errs[i] = s.tx(ctx, r.fn)
			}
			err = nil
		}
		for i, r := range batch {
			if err != nil && failed < 0 {
				// The commit itself failed: nothing was written.
				r.done <- err
				continue
			}
			r.done <- errs[i]
		}
	}
}
