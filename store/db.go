package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
)

// Prepared statements, kept. database/sql prepares a statement afresh for
// every Exec or Query given a string; with SQLite, sqlite3_prepare_v2 cost
// about as much as running the statement (a quarter of SQLite's time under
// API load, most of it on the single writer connection). pool and wtx keep
// the method names of *sql.DB and *sql.Tx so store code calls
// tx.ExecContext(ctx, query, args...) as before, and reuse the statement
// prepared for that query text.

// maxStmts bounds a pool's statement cache; queries beyond it run
// unprepared. The store's query texts are a fixed set well below it: no
// query text depends on its arguments — a list of values goes in as one
// JSON array parameter (jsonArray), never as a variable number of "?".
const maxStmts = 256

// jsonArray encodes vs as a JSON array, for "x IN (SELECT value FROM
// json_each(?))": one query text whatever the list's length. It is "[]",
// never "null", for an empty list: json_each('null') yields one NULL row,
// and "x NOT IN (NULL)" is never true.
func jsonArray[T int64 | string](vs []T) string {
	if len(vs) == 0 {
		return "[]"
	}
	b, err := json.Marshal(vs)
	if err != nil {
		panic(err) // integers and strings always encode
	}
	return string(b)
}

// pool is a connection pool with a statement cache.
type pool struct {
	*sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// wanted: queries first run inside a transaction, to prepare once it
	// is over. Preparing on the pool needs a free connection, and the
	// write pool's only one belongs to the transaction.
	wanted map[string]struct{}
}

func newPool(db *sql.DB) *pool {
	return &pool{DB: db, stmts: map[string]*sql.Stmt{}, wanted: map[string]struct{}{}}
}

// cached returns the statement prepared for query, or nil.
func (p *pool) cached(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

// stmt returns the statement for query, preparing it if needed; nil when it
// cannot be prepared (the caller runs the query unprepared and reports the
// error that gives).
func (p *pool) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := p.cached(query); st != nil {
		return st
	}
	p.mu.Lock()
	full := len(p.stmts) >= maxStmts
	p.mu.Unlock()
	if full {
		return nil
	}
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.stmts[query]; ok {
		st.Close()
		return prev
	}
	p.stmts[query] = st
	return st
}

// want notes a query to prepare after the current transaction.
func (p *pool) want(query string) {
	p.mu.Lock()
	if len(p.wanted) < maxStmts {
		p.wanted[query] = struct{}{}
	}
	p.mu.Unlock()
}

// prepareWanted prepares the queries noted by want; it must be called with
// no connection of p held.
func (p *pool) prepareWanted() {
	p.mu.Lock()
	if len(p.wanted) == 0 {
		p.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(p.wanted))
	for q := range p.wanted {
		qs = append(qs, q)
	}
	clear(p.wanted)
	p.mu.Unlock()
	for _, q := range qs {
		p.stmt(context.Background(), q)
	}
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, query, args...)
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the cached statements and the pool.
func (p *pool) Close() error {
	p.mu.Lock()
	for _, st := range p.stmts {
		st.Close()
	}
	clear(p.stmts)
	p.mu.Unlock()
	return p.DB.Close()
}

// wtx is a write transaction (see Store.tx) using its pool's statements.
type wtx struct {
	*sql.Tx
	pool *pool
	// afterCommit runs once the transaction committed (integrations:
	// webhook worker wake-ups and metrics; see webhook_events.go).
	afterCommit []func()
}

// txStmt is the pool's statement for query bound to tx, or nil (then the
// query runs unprepared this time and is prepared after the transaction).
func (tx *wtx) txStmt(ctx context.Context, query string) *sql.Stmt {
	st := tx.pool.cached(query)
	if st == nil {
		tx.pool.want(query)
		return nil
	}
	return tx.Tx.StmtContext(ctx, st)
}

func (tx *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.txStmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

func (tx *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.txStmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

func (tx *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.txStmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}
