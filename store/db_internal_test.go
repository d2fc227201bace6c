package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
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

// A list argument of any length is one query text: calls with 1 to 300
// ids (and any set of paused kinds) leave the statement cache as it was
// after the first call of each method.
func TestPool_ListArgumentsKeepOneStatement(t *testing.T) {
	s, _ := openInternal(t)
	s.SetBcryptCost(bcrypt.MinCost)
	ctx := context.Background()
	var bound []int64
	for _, name := range []string{"Zed", "amy", "Bea"} {
		u, err := s.CreateUser(ctx, name, "pw-"+name+"-1234", false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := s.NewBindToken(ctx, u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteBinding(ctx, tok, Binding{OpenID: "o" + name}); err != nil {
			t.Fatal(err)
		}
		bound = append(bound, u.ID)
	}
	stmts := func() int {
		s.rdb.mu.Lock()
		defer s.rdb.mu.Unlock()
		s.wdb.mu.Lock()
		defer s.wdb.mu.Unlock()
		return len(s.rdb.stmts) + len(s.wdb.stmts)
	}
	now := time.Now()
	// Each method once, with an id no other call uses.
	if _, err := s.Recipients(ctx, false, []int64{1 << 40}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDue(ctx, now, 10, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NextDue(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := stmts()

	fresh := int64(1_000_000) // ids of no user, never asked for before: the memory cache misses
	for n := 1; n <= 300; n++ {
		k := min(n, len(bound))
		ids := slices.Clone(bound[:k])
		for range n - k {
			ids = append(ids, fresh)
			fresh++
		}
		rs, err := s.Recipients(ctx, false, ids)
		if err != nil {
			t.Fatalf("%d ids: %v", n, err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Name)
		}
		want := [][]string{nil, {"Zed"}, {"amy", "Zed"}, {"amy", "Bea", "Zed"}}[k] // by name, NOCASE
		if !slices.Equal(got, want) {
			t.Fatalf("%d ids: recipients %v, want %v", n, got, want)
		}
	}
	for _, skip := range [][]string{nil, {}, {KindText}, {KindTemplate}, {KindText, KindTemplate}} {
		if _, err := s.ClaimDue(ctx, now, 10, skip); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.NextDue(ctx, skip); err != nil {
			t.Fatal(err)
		}
	}
	if got := stmts(); got != before {
		t.Fatalf("statement cache grew from %d to %d entries", before, got)
	}
}

// recipientsSQL looks each id up by primary key in users and bindings;
// it scans neither table, on a fresh database or an analyzed one.
func TestRecipientsSQL_SearchesByPrimaryKey(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		rows, err := s.rdb.DB.QueryContext(ctx, `EXPLAIN QUERY PLAN `+recipientsSQL, "[1,2,3]")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		all := strings.Join(plan, "\n")
		for _, want := range []string{"SEARCH u USING INTEGER PRIMARY KEY (rowid=?)", "SEARCH b USING INTEGER PRIMARY KEY (rowid=?)"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: plan lacks %q:\n%s", when, want, all)
			}
		}
		for _, p := range plan {
			if strings.HasPrefix(p, "SCAN u") || strings.HasPrefix(p, "SCAN b") {
				t.Errorf("%s: plan scans a table (%s):\n%s", when, p, all)
			}
		}
	}
	check("fresh database")

	// 5,000 users, half of them bound, and statistics for the planner.
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
			INSERT INTO users(id, public_id, name, password_hash, created_at) SELECT i, 'p' || i, 'user' || i, 'x', 0 FROM n`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO bindings(user_id, openid, bound_at) SELECT id, 'o' || id, 0 FROM users WHERE id % 2 = 0`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	check("5,000 users, analyzed")
}
