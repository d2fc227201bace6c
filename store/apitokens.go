package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// ErrRevoked is returned for an API token that existed but was revoked.
var ErrRevoked = errors.New("token revoked")

// APITokenPrefix starts every admin API token, so a leaked token is easy to
// recognise (by people and by secret scanners).
const APITokenPrefix = "wxp_"

// apiTokenLen is the random part of an API token: 40 characters of
// [A-Za-z0-9], about 238 bits.
const apiTokenLen = 40

// apiTokenShown is how much of a token lists show: the prefix and four
// random characters, too little to guess the rest.
const apiTokenShown = 8

// apiTokenTouchEvery spaces out the last-used writes of a busy token.
const apiTokenTouchEvery = time.Minute

// APIToken describes an admin API token without revealing it.
type APIToken struct {
	ID         int64
	Name       string
	Prefix     string // the first characters, "wxp_" included
	CreatedBy  int64  // user id; 0 when that user was deleted
	Creator    string // that user's name, filled by APITokens
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: active
	Scopes     []string  // ScopeSend, ScopeRead, ScopeManage (scopes.go)
}

// Revoked reports whether the token was revoked.
func (t APIToken) Revoked() bool { return !t.RevokedAt.IsZero() }

// CreateAPIToken makes a new token and returns it with its record. Only its
// SHA-256 hash is stored: this is the one time the token can be shown.
func (s *Store) CreateAPIToken(ctx context.Context, name string, createdBy int64) (string, APIToken, error) {
	return s.CreateScopedAPIToken(ctx, name, createdBy, AllScopes)
}

// CreateScopedAPIToken is CreateAPIToken for a token limited to scopes.
func (s *Store) CreateScopedAPIToken(ctx context.Context, name string, createdBy int64, scopes []string) (string, APIToken, error) {
	token := APITokenPrefix + RandomToken(apiTokenLen)
	t := APIToken{Name: name, Prefix: token[:apiTokenShown], CreatedBy: createdBy, CreatedAt: fromMs(s.nowMs()), Scopes: scopes}
	res, err := s.wdb.ExecContext(ctx,
		`INSERT INTO api_tokens(name, token_hash, prefix, created_by, created_at, scopes) VALUES(?, ?, ?, ?, ?, ?)`,
		t.Name, secretHash(token), t.Prefix, nullID(createdBy), t.CreatedAt.UnixMilli(), strings.Join(scopes, " "))
	if err != nil {
		return "", APIToken{}, err
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return "", APIToken{}, err
	}
	return token, t, nil
}

const apiTokenCols = `t.id, t.name, t.prefix, COALESCE(t.created_by, 0), COALESCE(u.name, ''), t.created_at,
	t.last_used_at, t.revoked_at, t.scopes`

func scanAPIToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var created int64
	var used, revoked sql.NullInt64
	var scopes string
	err := row.Scan(&t.ID, &t.Name, &t.Prefix, &t.CreatedBy, &t.Creator, &created, &used, &revoked, &scopes)
	t.Scopes = strings.Fields(scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, ErrNotFound
	}
	if err != nil {
		return APIToken{}, err
	}
	t.CreatedAt = fromMs(created)
	if used.Valid {
		t.LastUsedAt = fromMs(used.Int64)
	}
	if revoked.Valid {
		t.RevokedAt = fromMs(revoked.Int64)
	}
	return t, nil
}

// APITokens lists every token, active ones first, newest first.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+apiTokenCols+` FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by
		 ORDER BY t.revoked_at IS NOT NULL, t.id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// APIToken returns one token's record, or ErrNotFound.
func (s *Store) APIToken(ctx context.Context, id int64) (APIToken, error) {
	return scanAPIToken(s.rdb.QueryRowContext(ctx,
		`SELECT `+apiTokenCols+` FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by WHERE t.id = ?`, id))
}

// RevokeAPIToken makes a token unusable from now on; it stays listed.
// Revoking a revoked token keeps the first revocation time. ErrNotFound for
// an unknown id.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64) error {
	res, err := s.wdb.ExecContext(ctx,
		`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, s.nowMs(), id)
	// Whatever happened, no cached copy may outlive the revocation.
	s.cache.write(func() {
		for h, t := range s.cache.apiTokens {
			if t.ID == id {
				delete(s.cache.apiTokens, h)
			}
		}
	})
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// AuthenticateAPIToken returns the record of a presented token: ErrNotFound
// when no such token exists, ErrRevoked when it was revoked. It notes the
// use, at most once a minute per token, so that a busy client does not
// cost a database write on every request.
func (s *Store) AuthenticateAPIToken(ctx context.Context, token string) (APIToken, error) {
	if !strings.HasPrefix(token, APITokenPrefix) || len(token) != len(APITokenPrefix)+apiTokenLen {
		return APIToken{}, ErrNotFound
	}
	hashB := secretHash(token)
	hash := string(hashB)
	t, ok := s.cache.apiToken(hash)
	if !ok {
		gen := s.cache.generation()
		var err error
		t, err = scanAPIToken(s.rdb.QueryRowContext(ctx,
			`SELECT `+apiTokenCols+` FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by WHERE t.token_hash = ?`,
			hashB))
		if err != nil {
			return APIToken{}, err
		}
		s.cache.fill(gen, func() { put(s.cache.apiTokens, hash, t) })
	}
	if t.Revoked() {
		return APIToken{}, ErrRevoked
	}
	// The last use just read decides; the WHERE clause keeps concurrent
	// requests at the minute's turn from moving it more than once.
	now := s.now().UTC()
	if t.LastUsedAt.IsZero() || now.Sub(t.LastUsedAt) >= apiTokenTouchEvery {
		_, err := s.wdb.ExecContext(ctx,
			`UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
			now.UnixMilli(), t.ID, now.Add(-apiTokenTouchEvery).UnixMilli())
		if err != nil {
			return APIToken{}, err
		}
		t.LastUsedAt = fromMs(now.UnixMilli())
		// Only a copy still cached is updated: a revocation since removed it.
		s.cache.write(func() {
			if c, ok := s.cache.apiTokens[hash]; ok {
				c.LastUsedAt = t.LastUsedAt
				s.cache.apiTokens[hash] = c
			}
		})
	}
	return t, nil
}
