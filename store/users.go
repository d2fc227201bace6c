package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/bcrypt"
)

// User is an account of the website.
type User struct {
	ID        int64
	PublicID  string // random, opaque; safe to show and to put in URLs
	Name      string
	IsAdmin   bool
	CreatedAt time.Time
	// DisabledAt is when an admin disabled the account (zero while
	// enabled): it cannot sign in and receives nothing.
	DisabledAt time.Time
}

// Disabled reports whether an admin disabled the account.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// userCols are the columns scanUser reads, password hash last.
const userCols = `id, public_id, name, is_admin, created_at, disabled_at, password_hash`

// SetBcryptCost changes the work factor for new password hashes (default
// bcrypt.DefaultCost). Tests lower it so that creating many users stays fast.
func (s *Store) SetBcryptCost(cost int) { s.bcryptCost = cost }

// SetAuthenticateHook makes every Authenticate call f(name) before it
// checks the password. Tests count and hold password checks with it; set
// it before the store is used.
func (s *Store) SetAuthenticateHook(f func(name string)) { s.authHook = f }

// dummyHash is compared against when a name is unknown, so that a wrong name
// and a wrong password take about the same time.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("wxpush-dummy-password"), bcrypt.DefaultCost)
	return h
})

// CreateUser adds a user with the given password (hashed with bcrypt here).
// With firstIsAdmin, the user becomes an admin when no other user exists yet
// (the first sign-up owns the site); admin forces admin rights.
// A taken name gives ErrConflict.
func (s *Store) CreateUser(ctx context.Context, name, password string, admin, firstIsAdmin bool) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return User{}, err
	}
	u := User{PublicID: RandomToken(22), Name: name, IsAdmin: admin, CreatedAt: fromMs(s.nowMs())}
	err = s.tx(ctx, func(tx *wtx) error {
		if firstIsAdmin && !admin {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
				return err
			}
			u.IsAdmin = n == 0
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO users(public_id, name, password_hash, is_admin, created_at) VALUES(?, ?, ?, ?, ?)`,
			u.PublicID, u.Name, string(hash), u.IsAdmin, u.CreatedAt.UnixMilli())
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// Authenticate returns the user whose name and password match, or
// ErrBadCredentials. The user may be disabled: whether they may sign in is
// the caller's rule (and CreateSession refuses them).
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	if s.authHook != nil {
		s.authHook(name)
	}
	var hash string
	u, err := s.scanUser(s.rdb.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE name = ?`, name), &hash)
	if errors.Is(err, ErrNotFound) {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	if u, ok := s.cache.user(id); ok {
		return u, nil
	}
	gen := s.cache.generation()
	var hash string
	u, err := s.scanUser(s.rdb.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE id = ?`, id), &hash)
	if err == nil {
		s.cache.fill(gen, func() { s.cache.putUser(u) })
	}
	return u, err
}

// UserByName returns the user with that name (case-insensitive), or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	if u, ok := s.cache.userByName(name); ok {
		return u, nil
	}
	gen := s.cache.generation()
	var hash string
	u, err := s.scanUser(s.rdb.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE name = ?`, name), &hash)
	if err == nil {
		s.cache.fill(gen, func() { s.cache.putUser(u) })
	}
	return u, err
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

func (s *Store) scanUser(row interface{ Scan(...any) error }, hash *string) (User, error) {
	var u User
	var created int64
	var disabled sql.NullInt64
	err := row.Scan(&u.ID, &u.PublicID, &u.Name, &u.IsAdmin, &created, &disabled, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = fromMs(created)
	if disabled.Valid {
		u.DisabledAt = fromMs(disabled.Int64)
	}
	return u, nil
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// UserByOpenID returns the user bound to openid, or ErrNotFound.
func (s *Store) UserByOpenID(ctx context.Context, openid string) (User, error) {
	var hash string
	return s.scanUser(s.rdb.QueryRowContext(ctx,
		`SELECT u.id, u.public_id, u.name, u.is_admin, u.created_at, u.disabled_at, u.password_hash
		 FROM users u JOIN bindings b ON b.user_id = u.id WHERE b.openid = ?`, openid), &hash)
}
