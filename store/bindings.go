package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"
)

// Binding ties a user to the openid of their WeChat in our official account.
type Binding struct {
	UserID    int64
	OpenID    string
	Nickname  string
	AvatarURL string
	BoundAt   time.Time
}

// BindToken is a one-time binding token (the OAuth state). The token itself
// is only known to the user's browser and the QR code; the store keeps its hash.
type BindToken struct {
	ID        int64
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Expired reports whether the token's lifetime has passed at now.
func (t BindToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Used reports whether the token has completed a binding.
func (t BindToken) Used() bool { return !t.UsedAt.IsZero() }

// BindTokenLen is the length of a binding token: 32 characters of
// [A-Za-z0-9] (~190 bits), well inside WeChat's 128-byte state limit (docs/wechat.md §2).
const BindTokenLen = 32

// secretHash is how every secret the store checks (binding tokens, send
// keys, API tokens) is kept: its SHA-256. They are random and long, so a
// fast hash suffices; only the hash can leak.
func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewBindToken creates a fresh one-time token for the user, valid for ttl,
// and returns the token (to put in the QR code) with its record. Tokens of
// this user that expired more than a day ago are deleted on the way.
func (s *Store) NewBindToken(ctx context.Context, userID int64, ttl time.Duration) (string, BindToken, error) {
	return s.NewBindTokenLimited(ctx, userID, ttl, Limit{})
}

// bindTokenKeep is how long a binding token is kept after it expires, so
// that a late scan is told 「二维码已过期」 rather than 「二维码无效」.
const bindTokenKeep = 24 * time.Hour

// NewBindTokenLimited is NewBindToken refusing, with a *LimitError, when
// the user already created lim.Max tokens in the last lim.Per: each token
// of the scan mode costs a WeChat qrcode/create call. The count and the
// insert are one transaction, so parallel requests cannot overshoot.
func (s *Store) NewBindTokenLimited(ctx context.Context, userID int64, ttl time.Duration, lim Limit) (string, BindToken, error) {
	token := RandomToken(BindTokenLen)
	now := s.nowMs()
	t := BindToken{UserID: userID, CreatedAt: fromMs(now), ExpiresAt: fromMs(now + ttl.Milliseconds())}
	err := s.tx(ctx, func(tx *wtx) error {
		if lim.Max > 0 {
			if err := checkBindTokenLimit(ctx, tx, userID, now, lim); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM bind_tokens WHERE user_id = ? AND expires_at < ?`, userID, now-bindTokenKeep.Milliseconds()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO bind_tokens(token_hash, user_id, created_at, expires_at) VALUES(?, ?, ?, ?)`,
			secretHash(token), userID, now, t.ExpiresAt.UnixMilli())
		if err != nil {
			return err
		}
		t.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return "", BindToken{}, err
	}
	s.cache.write(func() { s.cache.setToken(t) })
	return token, t, nil
}

// pruneBindTokens deletes binding tokens expired for more than
// bindTokenKeep, in batches.
func (s *Store) pruneBindTokens(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-bindTokenKeep)
	n, err := s.deleteBatches(ctx,
		`DELETE FROM bind_tokens WHERE id IN (SELECT id FROM bind_tokens WHERE expires_at < ? LIMIT ?)`, cutoff.UnixMilli())
	s.cache.write(func() {
		for id, t := range s.cache.tokens {
			if t.ExpiresAt.Before(cutoff) {
				delete(s.cache.tokens, id)
			}
		}
	})
	return n, err
}

// checkBindTokenLimit fails with a *LimitError when the user created
// lim.Max tokens in the lim.Per before now (ms). Tokens that young are
// never pruned (bindTokenKeep is far longer than any window).
func checkBindTokenLimit(ctx context.Context, tx *wtx, userID, now int64, lim Limit) error {
	rows, err := tx.QueryContext(ctx,
		`SELECT created_at FROM bind_tokens WHERE user_id = ? AND created_at > ? ORDER BY created_at DESC LIMIT ?`,
		userID, now-lim.Per.Milliseconds(), lim.Max)
	if err != nil {
		return err
	}
	defer rows.Close()
	n, oldest := 0, int64(0)
	for rows.Next() {
		if err := rows.Scan(&oldest); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n >= lim.Max {
		// The oldest of the last Max leaves the window first.
		return &LimitError{RetryAt: fromMs(oldest + lim.Per.Milliseconds())}
	}
	return nil
}

// BindTokenByToken looks a token up by its value, or ErrNotFound.
func (s *Store) BindTokenByToken(ctx context.Context, token string) (BindToken, error) {
	return scanBindToken(s.rdb.QueryRowContext(ctx,
		`SELECT id, user_id, created_at, expires_at, used_at FROM bind_tokens WHERE token_hash = ?`, secretHash(token)))
}

func scanBindToken(row interface{ Scan(...any) error }) (BindToken, error) {
	var t BindToken
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&t.ID, &t.UserID, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return BindToken{}, ErrNotFound
	}
	if err != nil {
		return BindToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	if used.Valid {
		t.UsedAt = fromMs(used.Int64)
	}
	return t, nil
}

// CompleteBinding spends the one-time token and binds its user to b.OpenID,
// in one transaction. It fails with ErrNotFound (unknown token),
// ErrTokenUsed, ErrTokenExpired or ErrOpenIDTaken (the openid belongs to
// another account; the token then stays unused). A user who was bound to
// another openid is re-bound to this one.
func (s *Store) CompleteBinding(ctx context.Context, token string, b Binding) (Binding, error) {
	now := s.nowMs()
	var used BindToken
	err := s.tx(ctx, func(tx *wtx) error {
		t, err := scanBindToken(tx.QueryRowContext(ctx,
			`SELECT id, user_id, created_at, expires_at, used_at FROM bind_tokens WHERE token_hash = ?`, secretHash(token)))
		if err != nil {
			return err
		}
		if t.Used() {
			return ErrTokenUsed
		}
		if t.Expired(fromMs(now)) {
			return ErrTokenExpired
		}
		var holder int64
		err = tx.QueryRowContext(ctx, `SELECT user_id FROM bindings WHERE openid = ?`, b.OpenID).Scan(&holder)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case holder != t.UserID:
			return ErrOpenIDTaken
		}
		b.UserID, b.BoundAt = t.UserID, fromMs(now)
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO bindings(user_id, openid, nickname, avatar_url, bound_at) VALUES(?, ?, ?, ?, ?)
			 ON CONFLICT(user_id) DO UPDATE SET openid = excluded.openid, nickname = excluded.nickname,
			   avatar_url = excluded.avatar_url, bound_at = excluded.bound_at`,
			b.UserID, b.OpenID, b.Nickname, b.AvatarURL, now); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE bind_tokens SET used_at = ? WHERE id = ?`, now, t.ID); err != nil {
			return err
		}
		t.UsedAt = fromMs(now)
		used = t
		return s.bindingEvent(ctx, tx, EventBindingCreated, b.UserID, b, now) // integrations: webhook event
	})
	if err != nil {
		return Binding{}, err
	}
	s.cache.write(func() {
		s.cache.setToken(used)
		s.cache.setBinding(b.UserID, &b)
	})
	return b, nil
}

// Binding returns the user's binding, or ErrNotFound when unbound.
func (s *Store) Binding(ctx context.Context, userID int64) (Binding, error) {
	var b Binding
	var bound int64
	err := s.rdb.QueryRowContext(ctx,
		`SELECT user_id, openid, nickname, avatar_url, bound_at FROM bindings WHERE user_id = ?`, userID).
		Scan(&b.UserID, &b.OpenID, &b.Nickname, &b.AvatarURL, &bound)
	if errors.Is(err, sql.ErrNoRows) {
		return Binding{}, ErrNotFound
	}
	if err != nil {
		return Binding{}, err
	}
	b.BoundAt = fromMs(bound)
	return b, nil
}

// Unbind removes the user's binding; ErrNotFound when there was none.
func (s *Store) Unbind(ctx context.Context, userID int64) error {
	err := s.tx(ctx, func(tx *wtx) error {
		var b Binding
		err := tx.QueryRowContext(ctx, `DELETE FROM bindings WHERE user_id = ? RETURNING openid`, userID).Scan(&b.OpenID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.bindingEvent(ctx, tx, EventBindingRemoved, userID, b, s.nowMs()) // integrations: webhook event
	})
	s.cache.write(func() { s.cache.dropBinding(userID) })
	return err
}

// UnbindOpenID removes the binding of a WeChat (the user replied 解绑)
// and returns the user it was bound to; ErrNotFound when it was bound to
// none.
func (s *Store) UnbindOpenID(ctx context.Context, openid string) (User, error) {
	var uid int64
	err := s.wdb.QueryRowContext(ctx, `DELETE FROM bindings WHERE openid = ? RETURNING user_id`, openid).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	s.cache.write(func() { s.cache.dropBinding(uid) })
	return s.UserByID(ctx, uid)
}

// BindStatus returns the user's token with that id together with the
// user's current binding (nil when unbound), in one query: the binding page
// polls it every 2 seconds. ErrNotFound when the token is not the user's.
func (s *Store) BindStatus(ctx context.Context, userID, tokenID int64) (BindToken, *Binding, error) {
	if t, b, ok := s.cache.bindStatus(userID, tokenID); ok {
		return t, b, nil
	}
	gen := s.cache.generation()
	var t BindToken
	var created, expires int64
	var used, bound sql.NullInt64
	var openid, nick sql.NullString
	err := s.rdb.QueryRowContext(ctx,
		`SELECT t.id, t.user_id, t.created_at, t.expires_at, t.used_at, b.openid, b.nickname, b.bound_at
		 FROM bind_tokens t LEFT JOIN bindings b ON b.user_id = t.user_id
		 WHERE t.id = ? AND t.user_id = ?`, tokenID, userID).
		Scan(&t.ID, &t.UserID, &created, &expires, &used, &openid, &nick, &bound)
	if errors.Is(err, sql.ErrNoRows) {
		return BindToken{}, nil, ErrNotFound
	}
	if err != nil {
		return BindToken{}, nil, err
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	if used.Valid {
		t.UsedAt = fromMs(used.Int64)
	}
	var b *Binding
	if openid.Valid {
		b = &Binding{UserID: userID, OpenID: openid.String, Nickname: nick.String, BoundAt: fromMs(bound.Int64)}
	}
	s.cache.fill(gen, func() {
		s.cache.setToken(t)
		s.cache.setBinding(userID, b)
	})
	return t, b, nil
}
