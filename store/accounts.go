package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Account administration: admin rights, disabling, deleting, passwords.
// Each change is one transaction that checks its own preconditions — the
// asking admin still is one, the last enabled admin stays — so two admins
// acting at once cannot together break a rule that each alone keeps.

var (
	// ErrLastAdmin refuses to demote, disable or delete the last enabled admin.
	ErrLastAdmin = errors.New("the last enabled admin must stay")
	// ErrNotAdmin: the admin asking lost admin rights (or was disabled or
	// deleted) before the change committed.
	ErrNotAdmin = errors.New("not an enabled admin")
	// ErrUserDisabled: the account is disabled (or gone) and cannot sign
	// in, receive, or be given a reset link.
	ErrUserDisabled = errors.New("user is disabled")
	// ErrRecipientInactive: a recipient of a message being queued was
	// disabled or deleted after the recipients were read.
	ErrRecipientInactive = errors.New("a recipient is disabled or deleted")
)

// DeletedUserName stands for a deleted account wherever its deliveries are
// listed: deleting a user keeps delivery history without saying whose.
const DeletedUserName = "已删除用户"

// UserByPublicID returns the user with that public id, or ErrNotFound.
func (s *Store) UserByPublicID(ctx context.Context, publicID string) (User, error) {
	var hash string
	return s.scanUser(s.rdb.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE public_id = ?`, publicID), &hash)
}

func txUser(ctx context.Context, s *Store, tx *wtx, id int64) (User, error) {
	var hash string
	return s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id), &hash)
}

// checkActor fails with ErrNotAdmin unless by (a user id; 0 for the
// command line, which needs no rights) is an enabled admin now.
func checkActor(ctx context.Context, tx *wtx, by int64) error {
	if by == 0 {
		return nil
	}
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT is_admin = 1 AND disabled_at IS NULL FROM users WHERE id = ?`, by).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !ok) {
		return ErrNotAdmin
	}
	return err
}

// keepLastAdmin fails with ErrLastAdmin when u is an enabled admin and no
// other enabled admin exists: u is about to stop being one.
func keepLastAdmin(ctx context.Context, tx *wtx, u User) error {
	if !u.IsAdmin || u.Disabled() {
		return nil
	}
	var others int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM users WHERE is_admin = 1 AND disabled_at IS NULL AND id <> ?`, u.ID).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return ErrLastAdmin
	}
	return nil
}

// SetAdmin grants (admin true) or withdraws admin rights, as the admin by
// asks (0: the command line). It reports whether anything changed.
// ErrNotFound, ErrNotAdmin, or ErrLastAdmin when withdrawing the rights of
// the last enabled admin.
func (s *Store) SetAdmin(ctx context.Context, by, userID int64, admin bool) (User, bool, error) {
	var u User
	changed := false
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkActor(ctx, tx, by); err != nil {
			return err
		}
		var err error
		if u, err = txUser(ctx, s, tx, userID); err != nil {
			return err
		}
		if u.IsAdmin == admin {
			return nil
		}
		if !admin {
			if err := keepLastAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET is_admin = ? WHERE id = ?`, admin, userID); err != nil {
			return err
		}
		u.IsAdmin, changed = admin, true
		return nil
	})
	if err != nil {
		return User{}, false, err
	}
	if changed {
		s.cache.write(func() { s.cache.putUser(u) })
	}
	return u, changed, nil
}

// SetDisabled disables or re-enables an account, as the admin by asks
// (0: the command line), and reports whether anything changed. Disabling
// ends the user's sessions, deletes their push key, unused binding codes
// and reset link, and fails their deliveries still waiting to be sent
// with errmsg note; the binding stays, for when the account is enabled
// again. ErrNotFound, ErrNotAdmin, or ErrLastAdmin when disabling the last
// enabled admin.
func (s *Store) SetDisabled(ctx context.Context, by, userID int64, disabled bool, note string) (User, bool, error) {
	var u User
	changed := false
	now := s.nowMs()
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkActor(ctx, tx, by); err != nil {
			return err
		}
		var err error
		if u, err = txUser(ctx, s, tx, userID); err != nil {
			return err
		}
		if u.Disabled() == disabled {
			return nil
		}
		changed = true
		if !disabled {
			u.DisabledAt = time.Time{}
			_, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = NULL WHERE id = ?`, userID)
			return err
		}
		if err := keepLastAdmin(ctx, tx, u); err != nil {
			return err
		}
		u.DisabledAt = fromMs(now)
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = ? WHERE id = ?`, now, userID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM send_keys WHERE user_id = ?`,
			`DELETE FROM bind_tokens WHERE user_id = ? AND used_at IS NULL`,
			`DELETE FROM password_resets WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return failPending(ctx, tx, userID, note, now)
	})
	if err != nil {
		return User{}, false, err
	}
	if changed && disabled {
		s.sendKeyTouches.Delete(userID)
	}
	if changed {
		s.cache.write(func() {
			if disabled {
				s.cache.dropUser(u)
			}
			s.cache.putUser(u)
			delete(s.cache.recipients, u.ID)
		})
	}
	return u, changed, nil
}

// failPending fails the user's deliveries that wait to be sent (queued or
// retrying; one being sent right now finishes). A failed delivery is not
// retried for a disabled or deleted user (RetryFailed).
func failPending(ctx context.Context, tx *wtx, userID int64, note string, now int64) error {
	_, err := tx.ExecContext(ctx,
		`UPDATE deliveries SET state = 'failed', errcode = 0, errmsg = ?, updated_at = ?
		 WHERE user_id = ? AND state IN ('queued', 'retrying')`, note, now, userID)
	return err
}

// DeleteUser deletes an account, as the admin by asks (0: the command
// line): its binding, push key, sessions, binding codes and reset link go
// with it. Its deliveries stay, for the messages' history, but no longer
// say whose they were (user and openid cleared; listed as
// DeletedUserName); those still waiting to be sent fail with errmsg note.
// Messages, API tokens and audit entries it made keep their content and
// lose the link to the account. ErrNotFound, ErrNotAdmin, or ErrLastAdmin
// when deleting the last enabled admin.
//
// Deliveries have no index on user_id — one would cost every queued
// delivery a second index entry — so this scans them; it is a rare admin
// action, and retention bounds the table.
func (s *Store) DeleteUser(ctx context.Context, by, userID int64, note string) (User, error) {
	var u User
	now := s.nowMs()
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkActor(ctx, tx, by); err != nil {
			return err
		}
		var err error
		if u, err = txUser(ctx, s, tx, userID); err != nil {
			return err
		}
		if err := keepLastAdmin(ctx, tx, u); err != nil {
			return err
		}
		if err := failPending(ctx, tx, userID, note, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET user_id = NULL, openid = '' WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID)
		return err
	})
	if err != nil {
		return User{}, err
	}
	s.cache.write(func() { s.cache.dropUser(u) })
	s.sendKeyTouches.Delete(userID)
	return u, nil
}

// checkRecipientsActive fails with ErrRecipientInactive when a recipient
// was disabled or deleted: the recipients were read before the queueing
// transaction, and an admin may have acted in between. Run in that
// transaction, it makes "a disabled account receives nothing" hold
// whatever the order.
func checkRecipientsActive(ctx context.Context, tx *wtx, rcpts []Recipient) error {
	ids := make([]int64, 0, len(rcpts))
	seen := make(map[int64]bool, len(rcpts))
	for _, r := range rcpts {
		if r.UserID != 0 && !seen[r.UserID] {
			seen[r.UserID] = true
			ids = append(ids, r.UserID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var active int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM users WHERE id IN (SELECT value FROM json_each(?)) AND disabled_at IS NULL`,
		jsonArray(ids)).Scan(&active); err != nil {
		return err
	}
	if active != len(ids) {
		return ErrRecipientInactive
	}
	return nil
}

// passwordHash reads a user's hash and whether the account is disabled.
func (s *Store) passwordHash(ctx context.Context, userID int64) (hash string, disabled bool, err error) {
	var d sql.NullInt64
	err = s.rdb.QueryRowContext(ctx, `SELECT password_hash, disabled_at FROM users WHERE id = ?`, userID).Scan(&hash, &d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, ErrNotFound
	}
	return hash, d.Valid, err
}

// ChangePassword replaces the user's password after checking the current
// one (ErrBadCredentials), ends every other session of theirs (keep is the
// one asking; 0 ends all) and voids an unused reset link, in one
// transaction; it returns how many sessions it ended. ErrConflict when the
// password changed in between (another tab, a reset link).
func (s *Store) ChangePassword(ctx context.Context, userID int64, current, next string, keep int64) (int64, error) {
	old, disabled, err := s.passwordHash(ctx, userID)
	if err != nil {
		return 0, err
	}
	if disabled {
		return 0, ErrUserDisabled
	}
	if bcrypt.CompareHashAndPassword([]byte(old), []byte(current)) != nil {
		return 0, ErrBadCredentials
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(next), s.bcryptCost)
	if err != nil {
		return 0, err
	}
	var ended int64
	err = s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`,
			string(hash), userID, old)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM password_resets WHERE user_id = ? AND used_at IS NULL`, userID); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
		if err != nil {
			return err
		}
		ended, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.UserID == userID && se.ID != keep }) })
	return ended, nil
}

// PasswordReset is a one-time link an admin made for a user to set a new
// password. The token itself is only in the link; the store keeps its hash.
type PasswordReset struct {
	UserID    int64
	CreatedBy int64 // the admin; 0 when gone or the command line
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Expired reports whether the link's lifetime has passed at now.
func (p PasswordReset) Expired(now time.Time) bool { return !now.Before(p.ExpiresAt) }

// Used reports whether the link has set a password.
func (p PasswordReset) Used() bool { return !p.UsedAt.IsZero() }

// ResetTokenLen is the length of a reset token: 32 characters of
// [A-Za-z0-9], about 190 bits.
const ResetTokenLen = 32

// wellFormedResetToken reports whether t could be a reset token, so that
// junk costs no query.
func wellFormedResetToken(t string) bool {
	if len(t) != ResetTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// CreatePasswordReset makes a one-time reset link token for the user,
// valid for ttl, as the admin by asks (0: the command line), replacing any
// earlier link of theirs. The token is returned this once; only its hash
// is kept. ErrNotFound, ErrNotAdmin, or ErrUserDisabled.
func (s *Store) CreatePasswordReset(ctx context.Context, by, userID int64, ttl time.Duration) (string, PasswordReset, error) {
	token := RandomToken(ResetTokenLen)
	now := s.nowMs()
	p := PasswordReset{UserID: userID, CreatedBy: by, CreatedAt: fromMs(now), ExpiresAt: fromMs(now + ttl.Milliseconds())}
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkActor(ctx, tx, by); err != nil {
			return err
		}
		u, err := txUser(ctx, s, tx, userID)
		if err != nil {
			return err
		}
		if u.Disabled() {
			return ErrUserDisabled
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO password_resets(user_id, token_hash, created_by, created_at, expires_at) VALUES(?, ?, ?, ?, ?)
			 ON CONFLICT(user_id) DO UPDATE SET token_hash = excluded.token_hash, created_by = excluded.created_by,
			   created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = NULL`,
			userID, secretHash(token), nullID(by), now, p.ExpiresAt.UnixMilli())
		return err
	})
	if err != nil {
		return "", PasswordReset{}, err
	}
	return token, p, nil
}

func scanPasswordReset(row interface{ Scan(...any) error }) (PasswordReset, error) {
	var p PasswordReset
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&p.UserID, &p.CreatedBy, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return PasswordReset{}, ErrNotFound
	}
	if err != nil {
		return PasswordReset{}, err
	}
	p.CreatedAt, p.ExpiresAt = fromMs(created), fromMs(expires)
	if used.Valid {
		p.UsedAt = fromMs(used.Int64)
	}
	return p, nil
}

const resetCols = `user_id, COALESCE(created_by, 0), created_at, expires_at, used_at`

// PasswordResetByToken looks a reset link up by its token: ErrNotFound
// (unknown, malformed or replaced), ErrTokenUsed or ErrTokenExpired.
func (s *Store) PasswordResetByToken(ctx context.Context, token string) (PasswordReset, error) {
	if !wellFormedResetToken(token) {
		return PasswordReset{}, ErrNotFound
	}
	p, err := scanPasswordReset(s.rdb.QueryRowContext(ctx,
		`SELECT `+resetCols+` FROM password_resets WHERE token_hash = ?`, secretHash(token)))
	if err != nil {
		return p, err
	}
	return p, p.check(s.now())
}

func (p PasswordReset) check(now time.Time) error {
	switch {
	case p.Used():
		return ErrTokenUsed
	case p.Expired(now):
		return ErrTokenExpired
	}
	return nil
}

// PasswordResetOf returns the user's latest reset link, or ErrNotFound.
func (s *Store) PasswordResetOf(ctx context.Context, userID int64) (PasswordReset, error) {
	return scanPasswordReset(s.rdb.QueryRowContext(ctx,
		`SELECT `+resetCols+` FROM password_resets WHERE user_id = ?`, userID))
}

// ResetPassword spends a reset link: it sets the user's new password, marks
// the link used and ends every session of the user, in one transaction, and
// returns the user. ErrNotFound, ErrTokenUsed, ErrTokenExpired (checked
// again in the transaction: of two uses at once, one wins), or
// ErrUserDisabled.
func (s *Store) ResetPassword(ctx context.Context, token, next string) (User, error) {
	// A cheap look first, so that guessing tokens costs no bcrypt.
	if _, err := s.PasswordResetByToken(ctx, token); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(next), s.bcryptCost)
	if err != nil {
		return User{}, err
	}
	if s.beforeResetTx != nil {
		s.beforeResetTx()
	}
	var u User
	now := s.nowMs()
	err = s.tx(ctx, func(tx *wtx) error {
		p, err := scanPasswordReset(tx.QueryRowContext(ctx,
			`SELECT `+resetCols+` FROM password_resets WHERE token_hash = ?`, secretHash(token)))
		if err != nil {
			return err
		}
		if err := p.check(fromMs(now)); err != nil {
			return err
		}
		if u, err = txUser(ctx, s, tx, p.UserID); err != nil {
			return err
		}
		if u.Disabled() {
			return ErrUserDisabled
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = ? WHERE user_id = ?`, now, u.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID)
		return err
	})
	if err != nil {
		return User{}, err
	}
	s.cache.write(func() { s.cache.dropSessions(func(se Session) bool { return se.UserID == u.ID }) })
	return u, nil
}
