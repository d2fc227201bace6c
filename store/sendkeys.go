package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// SendKeyInfo describes a user's personal send key without revealing it.
type SendKeyInfo struct {
	Prefix     string // the first characters, to recognise it
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// sendKeyLen is the random part of a send key: 32 characters of
// [A-Za-z0-9], about 190 bits.
const sendKeyLen = 32

// SendKeyPrefix starts every personal send key, so leaked keys are easy to
// recognise (e.g. by secret scanners).
const SendKeyPrefix = "wxs_"

// RotateSendKey gives the user a new personal send key, replacing (and so
// invalidating) the old one, and returns it. Only its hash is stored: this
// is the one time the key can be shown.
func (s *Store) RotateSendKey(ctx context.Context, userID int64) (string, error) {
	key := SendKeyPrefix + RandomToken(sendKeyLen)
	_, err := s.wdb.ExecContext(ctx,
		`INSERT INTO send_keys(user_id, key_hash, prefix, created_at) VALUES(?, ?, ?, ?)
		 ON CONFLICT(user_id) DO UPDATE SET key_hash = excluded.key_hash, prefix = excluded.prefix,
		   created_at = excluded.created_at, last_used_at = NULL`,
		userID, secretHash(key), key[:len(SendKeyPrefix)+4], s.nowMs())
	return key, err
}

// SendKey describes the user's key, or ErrNotFound when they have none.
func (s *Store) SendKey(ctx context.Context, userID int64) (SendKeyInfo, error) {
	var k SendKeyInfo
	var created int64
	var used sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT prefix, created_at, last_used_at FROM send_keys WHERE user_id = ?`, userID).
		Scan(&k.Prefix, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrNotFound
	}
	if err != nil {
		return k, err
	}
	k.CreatedAt = fromMs(created)
	if used.Valid {
		k.LastUsedAt = fromMs(used.Int64)
	}
	return k, nil
}

// UserBySendKey returns the owner of a send key, or ErrNotFound, and notes
// the use (at most once a minute, so a busy key does not write each time).
func (s *Store) UserBySendKey(ctx context.Context, key string) (User, error) {
	var uid int64
	err := s.rdb.QueryRowContext(ctx, `SELECT user_id FROM send_keys WHERE key_hash = ?`, secretHash(key)).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	now := s.now()
	if last, ok := s.sendKeyTouches.Load(uid); !ok || now.Sub(last.(time.Time)) > time.Minute {
		s.sendKeyTouches.Store(uid, now)
		if _, err := s.wdb.ExecContext(ctx, `UPDATE send_keys SET last_used_at = ? WHERE user_id = ?`, now.UnixMilli(), uid); err != nil {
			return User{}, err
		}
	}
	return s.UserByID(ctx, uid)
}
