package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// IdempotencyKey ties a client's Idempotency-Key to the message its first
// request queued.
type IdempotencyKey struct {
	Scope    string // whose key: "token:ID" or "sendkey:USERID"
	Key      string // as the client sent it
	BodyHash []byte // SHA-256 of the request that used it
}

// IdempotencyTTL is how long a key answers with its first message.
const IdempotencyTTL = 24 * time.Hour

// ErrIdempotencyKeyTaken: another request stored the same key first.
var ErrIdempotencyKeyTaken = errors.New("idempotency key already used")

// insertIdempotencyKey records m's key inside the transaction that stores
// m. A live key of the same scope is ErrIdempotencyKeyTaken (a concurrent
// request won); an expired one is replaced.
func insertIdempotencyKey(ctx context.Context, tx *wtx, m Message, now int64) error {
	k := m.Idempotency
	res, err := tx.ExecContext(ctx,
		`INSERT INTO idempotency_keys(scope, key, body_hash, message_id, created_at) VALUES(?, ?, ?, ?, ?)
		 ON CONFLICT(scope, key) DO UPDATE SET body_hash = excluded.body_hash, message_id = excluded.message_id,
		   created_at = excluded.created_at
		 WHERE idempotency_keys.created_at <= ?`,
		k.Scope, k.Key, k.BodyHash, m.ID, now, now-IdempotencyTTL.Milliseconds())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrIdempotencyKeyTaken
	}
	return nil
}

// IdempotentMessage returns the id and body hash of the message a live key
// (younger than IdempotencyTTL) queued; ErrNotFound when there is none.
func (s *Store) IdempotentMessage(ctx context.Context, scope, key string) (int64, []byte, error) {
	var id int64
	var hash []byte
	err := s.rdb.QueryRowContext(ctx,
		`SELECT message_id, body_hash FROM idempotency_keys WHERE scope = ? AND key = ? AND created_at > ?`,
		scope, key, s.nowMs()-IdempotencyTTL.Milliseconds()).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	return id, hash, err
}

// pruneIdempotencyKeys deletes expired keys.
func (s *Store) pruneIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	return s.deleteBatches(ctx,
		`DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM idempotency_keys WHERE created_at <= ? LIMIT ?)`,
		now.Add(-IdempotencyTTL).UnixMilli())
}
