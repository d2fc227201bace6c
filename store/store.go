// Package store keeps wxpush's state in SQLite: users, WeChat bindings,
// one-time binding tokens and settings.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/pressly/goose/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/migrations"
)

// Sentinel errors; check them with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrConflict       = errors.New("already exists")
	ErrBadCredentials = errors.New("wrong name or password")
	ErrTokenExpired   = errors.New("token expired")
	ErrTokenUsed      = errors.New("token already used")
	ErrOpenIDTaken    = errors.New("openid is bound to another account")
)

// Store is the database. Writes go through a single connection with
// BEGIN IMMEDIATE so that writers queue instead of failing with SQLITE_BUSY;
// reads use a separate pool and run concurrently thanks to WAL.
type Store struct {
	wdb  *pool
	rdb  *pool
	ckdb *sql.DB // checkpointLoop's connection
	now  func() time.Time

	bcryptCost int
	authHook   func(name string) // SetAuthenticateHook

	cache *cache

	writes     chan writeReq
	closed     chan struct{}
	writerDone chan struct{}
	// checkpointDone: checkpointLoop returned.
	checkpointDone chan struct{}
	closeOnce      sync.Once
	// writerStarted: Open started writeLoop (OpenNoMigrate does not).
	writerStarted bool
	// ext, watchDone: commits by other processes (external.go).
	ext       dataVersion
	watchDone chan struct{}

	// hooks: webhook subscriptions and commit observers (webhook_events.go).
	hooks hooks
	// beforeResetTx, in tests, runs between ResetPassword's first look at
	// the link and its transaction.
	beforeResetTx func()

	// txDone, when set (tests), is called after every write transaction
	// with how long it held SQLite's write lock.
	txDone func(held time.Duration)

	// sendKeyTouches throttles send-key last-used writes to one a minute
	// per user (user id → time.Time).
	sendKeyTouches sync.Map
}

// Open opens (creating if needed) the database at path and applies every
// pending migration.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// Options tune how the database is opened. Zero values take the defaults
// in brackets.
type Options struct {
	// BusyTimeout is how long a write waits for SQLite's write lock, held by
	// another connection, before it fails [5s].
	BusyTimeout time.Duration
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	s, err := openNoMigrate(path, o)
	if err != nil {
		return nil, err
	}
	if _, err := s.provider().Up(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if _, err := s.pollExternalWrites(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.writerStarted = true
	go s.writeLoop()
	go s.checkpointLoop(s.ckdb)
	go s.watchExternalWrites()
	return s, nil
}

// OpenNoMigrate opens the database without touching its schema, for
// commands that only inspect it (migrate status).
func OpenNoMigrate(path string) (*Store, error) { return openNoMigrate(path, Options{}) }

func openNoMigrate(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("database path is empty")
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	wdb := sql.OpenDB(connector{dsn: dsn, hook: writerHook})
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.Ping(); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	q.Set("_query_only", "true")
	q.Del("_txlock")
	rdb, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		wdb.Close()
		return nil, err
	}
	n := max(4, 2*runtime.NumCPU())
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	ckdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, err
	}
	ckdb.SetMaxOpenConns(1)
	return &Store{wdb: newPool(wdb), rdb: newPool(rdb), ckdb: ckdb, now: time.Now, bcryptCost: bcrypt.DefaultCost, cache: newCache(),
		writes: make(chan writeReq), closed: make(chan struct{}), writerDone: make(chan struct{}), checkpointDone: make(chan struct{}),
		watchDone: make(chan struct{})}, nil
}

// SetClock replaces the store's clock; tests use it to expire tokens.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Close stops the store's goroutines and closes its connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if !s.writerStarted {
			return
		}
		timeout := time.After(5 * time.Second)
		for _, done := range []chan struct{}{s.writerDone, s.checkpointDone, s.watchDone} {
			select {
			case <-done:
			case <-timeout:
			}
		}
	})
	return errors.Join(s.rdb.Close(), s.wdb.Close(), s.ckdb.Close())
}

func (s *Store) provider() *goose.Provider {
	sub, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		panic(err) // embedded FS: cannot fail
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.wdb.DB, sub)
	if err != nil {
		panic(fmt.Sprintf("goose provider: %v", err)) // only fails on a broken embedded migration set
	}
	return p
}

// MigrationState is one migration's status.
type MigrationState struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	st, err := s.provider().Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationState{
			Version:   m.Source.Version,
			Name:      m.Source.Path,
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		})
	}
	return out, nil
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when fn
// returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *wtx) error) error {
	defer s.wdb.prepareWanted()
	t, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if s.txDone != nil {
		start := time.Now() // BEGIN IMMEDIATE took the write lock
		defer func() { s.txDone(time.Since(start)) }()
	}
	tx := &wtx{Tx: t, pool: s.wdb}
	if err := fn(tx); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	for _, f := range tx.afterCommit { // integrations: see webhook_events.go
		f()
	}
	return nil
}

func (s *Store) nowMs() int64 { return s.now().UTC().UnixMilli() }

func fromMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomToken returns n characters of [A-Za-z0-9] from crypto/rand, the
// alphabet WeChat allows in an OAuth state (docs/wechat.md §2).
func RandomToken(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[randIntn(len(alnum))]
	}
	return string(b)
}

func randIntn(n int) int {
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
