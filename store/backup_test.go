package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/wxpush/wxpush/store"
)

func TestBackup_UnderConcurrentWritesIsConsistentAndComplete(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	// Some bulk, so the copy takes a while relative to the writes.
	filler := []byte(strings.Repeat("x", 2000))
	for i := range 2000 {
		if err := s.SetSetting(ctx, fmt.Sprintf("fill-%d", i), filler); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu        sync.Mutex
		committed []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", g, i)
				if err := s.SetSetting(ctx, key, []byte(key)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, key)
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then note what is committed before the
	// backup starts.
	for {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), committed...)
	mu.Unlock()

	dst := filepath.Join(t.TempDir(), "backup.db")
	err := s.Backup(ctx, dst, false)
	mu.Lock()
	during := len(committed) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows committed before the backup, %d more while it ran", len(before), during)

	cp, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var check string
	if err := cp.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy = %q, %v", check, err)
	}
	var fills int
	if err := cp.QueryRow(`SELECT count(*) FROM settings WHERE key LIKE 'fill-%'`).Scan(&fills); err != nil || fills != 2000 {
		t.Errorf("filler rows in the copy: %d, %v; want 2000", fills, err)
	}
	var missing []string
	for _, k := range before {
		var v string
		if err := cp.QueryRow(`SELECT value FROM settings WHERE key = ?`, k).Scan(&v); err != nil || v != k {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d rows committed before the backup are missing from it, e.g. %v", len(missing), missing[0])
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v, %v; want 0600 (it holds password hashes)", fi.Mode(), err)
	}
}

func TestBackup_RefusesToOverwriteUnlessForced(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dst, false); !errors.Is(err, store.ErrBackupExists) {
		t.Fatalf("Backup over an existing file: err = %v, want ErrBackupExists", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Fatalf("existing file changed to %q", b)
	}
	if err := s.SetSetting(ctx, "marker", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dst, true); err != nil {
		t.Fatalf("forced Backup: %v", err)
	}
	// No temporary files are left behind (before the copy is opened,
	// which makes its own -wal and -shm).
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "backup.db" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	cp, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var v string
	if err := cp.QueryRow(`SELECT value FROM settings WHERE key = 'marker'`).Scan(&v); err != nil || v != "1" {
		t.Errorf("forced backup lacks the marker row: %q, %v", v, err)
	}
}
