package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Session is a signed-in browser. Its cookie carries a random token; the
// store keeps only the token's SHA-256, so a copy of the database signs
// nobody in.
type Session struct {
	ID         int64 // row id: names the session in the account page's forms
	UserID     int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time // moved at most once a minute
	IP         string    // client address when last seen
	UserAgent  string    // at sign-in, truncated to MaxUserAgent bytes
}

// Expired reports whether the session's lifetime has passed at now.
func (s Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// SessionLifetime is how long a sign-in lasts. It is absolute — counted
// from sign-in, not from the last request — as the signed cookies before
// it were: a stolen cookie is good for at most this long however much it
// is used, and keeping a session alive costs no write on every request.
const SessionLifetime = 30 * 24 * time.Hour

// sessionTokenBytes is the randomness in a session token: 256 bits,
// written as 43 characters of unpadded base64url.
const sessionTokenBytes = 32

var sessionTokenLen = base64.RawURLEncoding.EncodedLen(sessionTokenBytes)

// MaxUserAgent and maxIP bound what a client can make the store keep.
const (
	MaxUserAgent = 256
	maxIP        = 64
)

// sessionTouchEvery spaces out the last-seen writes of a session: the
// binding page polls every 2 seconds.
const sessionTouchEvery = time.Minute

// newSessionToken returns a fresh random session token.
func newSessionToken() string {
	b := make([]byte, sessionTokenBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// wellFormedSessionToken reports whether t could be a session token, so
// that junk cookies cost neither a hash nor a query.
func wellFormedSessionToken(t string) bool {
	if len(t) != sessionTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// truncateUTF8 cuts s to at most n bytes without splitting a character,
// after replacing invalid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CreateSession signs the user in on a new browser session that lasts
// SessionLifetime, and returns the token for its cookie (shown this once)
// with the session's record. ErrUserDisabled when the user is disabled or
// gone: checked in the insert itself, so a sign-in whose password check
// passed just before an admin disabled the account gets no session.
func (s *Store) CreateSession(ctx context.Context, userID int64, ip, userAgent string) (string, Session, error) {
	token := newSessionToken()
	now := s.nowMs()
	se := Session{UserID: userID, CreatedAt: fromMs(now), ExpiresAt: fromMs(now + SessionLifetime.Milliseconds()),
		LastSeenAt: fromMs(now), IP: truncateUTF8(ip, maxIP), UserAgent: truncateUTF8(userAgent, MaxUserAgent)}
	res, err := s.wdb.ExecContext(ctx,
		`INSERT INTO sessions(token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent)
		 SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND disabled_at IS NULL)`,
		secretHash(token), userID, now, se.ExpiresAt.UnixMilli(), now, se.IP, se.UserAgent, userID)
	if err != nil {
		return "", Session{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", Session{}, err
	} else if n == 0 {
		return "", Session{}, ErrUserDisabled
	}
	if se.ID, err = res.LastInsertId(); err != nil {
		return "", Session{}, err
	}
	hash := string(secretHash(token))
	s.cache.write(func() { put(s.cache.sessions, hash, se) })
	return token, se, nil
}

const sessionCols = `id, user_id, created_at, expires_at, last_seen_at, ip, user_agent`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var se Session
	var created, expires, seen int64
	err := row.Scan(&se.ID, &se.UserID, &created, &expires, &seen, &se.IP, &se.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	se.CreatedAt, se.ExpiresAt, se.LastSeenAt = fromMs(created), fromMs(expires), fromMs(seen)
	return se, nil
}

// AuthenticateSession returns the session a cookie's token names, or
// ErrNotFound when there is none (never issued, ended, or expired). It
// notes the visit and the client's address at most once a minute, so the
// 2-second polls of the binding page are answered from memory.
func (s *Store) AuthenticateSession(ctx context.Context, token, ip string) (Session, error) {
	if !wellFormedSessionToken(token) {
		return Session{}, ErrNotFound
	}
	hashB := secretHash(token)
	hash := string(hashB)
	se, ok := s.cache.session(hash)
	if !ok {
		gen := s.cache.generation()
		var err error
		se, err = scanSession(s.rdb.QueryRowContext(ctx,
			`SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, hashB))
		if err != nil {
			return Session{}, err
		}
		s.cache.fill(gen, func() { put(s.cache.sessions, hash, se) })
	}
	now := s.now().UTC()
	if se.Expired(now) {
		return Session{}, ErrNotFound
	}
	if now.Sub(se.LastSeenAt) < sessionTouchEvery {
		return se, nil
	}
	// The last visit just read decides; the WHERE clause keeps concurrent
	// requests at the minute's turn from moving it more than once.
	ip = truncateUTF8(ip, maxIP)
	if _, err := s.wdb.ExecContext(ctx,
		`UPDATE sessions SET last_seen_at = ?, ip = ? WHERE id = ? AND last_seen_at <= ?`,
		now.UnixMilli(), ip, se.ID, now.Add(-sessionTouchEvery).UnixMilli()); err != nil {
		return Session{}, err
	}
	se.LastSeenAt, se.IP = fromMs(now.UnixMilli()), ip
	// Only a copy still cached is updated: an ended session was removed.
	s.cache.write(func() {
		if _, ok := s.cache.sessions[hash]; ok {
			s.cache.sessions[hash] = se
		}
	})
	return se, nil
}

// UserSessions lists the user's unexpired sessions, the most recently
// seen first.
func (s *Store) UserSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+sessionCols+` FROM sessions WHERE user_id = ? AND expires_at > ?
		 ORDER BY last_seen_at DESC, id DESC`, userID, s.nowMs())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		se, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, rows.Err()
}

// EndSession ends the session a cookie's token names (signing out); a
// token that names no session is not an error.
func (s *Store) EndSession(ctx context.Context, token string) error {
	if !wellFormedSessionToken(token) {
		return nil
	}
	hashB := secretHash(token)
	_, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hashB)
	// Whatever happened, no cached copy may outlive the sign-out.
	s.cache.write(func() { delete(s.cache.sessions, string(hashB)) })
	return err
}

// EndUserSession ends one of the user's sessions by id. ErrNotFound when
// the user has no session with that id — someone else's included.
func (s *Store) EndUserSession(ctx context.Context, userID, id int64) error {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.ID == id && se.UserID == userID }) })
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

// EndOtherSessions ends every session of the user but keep (the browser
// asking), and returns how many it ended.
func (s *Store) EndOtherSessions(ctx context.Context, userID, keep int64) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.UserID == userID && se.ID != keep }) })
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// EndUserSessions ends every session of the user (a password reset, a
// disabled account) and returns how many it ended.
func (s *Store) EndUserSessions(ctx context.Context, userID int64) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.UserID == userID }) })
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// pruneSessions deletes expired sessions, in batches.
func (s *Store) pruneSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.deleteBatches(ctx,
		`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)`, now.UnixMilli())
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.Expired(now) }) })
	return n, err
}
