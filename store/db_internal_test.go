package store

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func openInternal(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wxpush.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestPool_PreparesEachQueryOnce(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	const q = `SELECT value FROM settings WHERE key = ?`
	for range 3 {
		var v []byte
		s.rdb.QueryRowContext(ctx, q, "nothing").Scan(&v)
	}
	if s.rdb.cached(q) == nil {
		t.Fatal("read query not kept prepared")
	}
	n := len(s.rdb.stmts)
	s.rdb.QueryRowContext(ctx, q, "other")
	if len(s.rdb.stmts) != n {
		t.Errorf("the same query text was prepared again: %d statements, had %d", len(s.rdb.stmts), n)
	}
}

func TestPool_StatementFirstRunInTransactionIsPreparedAfter(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	const q = `INSERT INTO settings(key, value) VALUES(?, ?)`
	err := s.tx(ctx, func(tx *wtx) error {
		// The write pool's only connection is this transaction's: preparing
		// on the pool now would wait for it forever.
		_, err := tx.ExecContext(ctx, q, "a", []byte("1"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.wdb.cached(q) == nil {
		t.Fatal("statement not prepared after the transaction")
	}
	// Now it runs prepared, inside a transaction and outside.
	if err := s.tx(ctx, func(tx *wtx) error { _, err := tx.ExecContext(ctx, q, "b", []byte("2")); return err }); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM settings WHERE key IN ('a', 'b')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d, %v; want 2", n, err)
	}
}

func TestPool_BadQueryReportsSQLiteError(t *testing.T) {
	s, _ := openInternal(t)
	_, err := s.wdb.ExecContext(context.Background(), `INSERT INTO no_such_table VALUES(1)`)
	if err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("err = %v; want SQLite's own message", err)
	}
	if len(s.wdb.stmts) >= maxStmts {
		t.Fatal("cache filled")
	}
}

func TestPool_FullCacheRunsUnprepared(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	// Fill the cache with distinct texts of one query.
	for i := len(s.rdb.stmts); i < maxStmts; i++ {
		q := `SELECT ` + strconv.Itoa(i)
		var v int
		if err := s.rdb.QueryRowContext(ctx, q).Scan(&v); err != nil || v != i {
			t.Fatalf("%s = %d, %v", q, v, err)
		}
	}
	var v int
	if err := s.rdb.QueryRowContext(ctx, `SELECT 12345`).Scan(&v); err != nil || v != 12345 {
		t.Fatalf("query past the cache bound = %d, %v", v, err)
	}
	if len(s.rdb.stmts) != maxStmts {
		t.Errorf("cache holds %d statements; bound is %d", len(s.rdb.stmts), maxStmts)
	}
}

// The writer leaves checkpoints to checkpointLoop: after a burst of
// commits the WAL is copied into the database file without the writer
// doing it (it would only past walBackstop pages).
func TestCheckpointLoop_BackfillsWALInBackground(t *testing.T) {
	s, path := openInternal(t)
	ctx := context.Background()
	var auto int
	if err := s.wdb.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != walBackstop {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want %d", auto, err, walBackstop)
	}
	before := fileSize(t, path)
	for i := range 200 {
		k := "k" + strconv.Itoa(i)
		if err := s.tx(ctx, func(tx *wtx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES(?, randomblob(4000))`, k)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// 200 rows of 4 kB: ~800 kB that only a checkpoint moves into the file.
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) < before+800_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after 5 s (was %d): WAL not checkpointed", fileSize(t, path), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
