package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/store"
)

// The serving lock is exclusive, names the database and its holder when
// refused, is shared by two names of one file, and is free again once
// unlocked.
func TestLockServe_OneHolderPerDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxpush.db")
	unlock, err := store.LockServe(db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(db + ".lock")
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, %v; want this pid", b, err)
	}

	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{db, filepath.Join(dir, ".", "wxpush.db"), link} {
		_, err := store.LockServe(path)
		var le *store.LockedError
		if !errors.Is(err, store.ErrLocked) || !errors.As(err, &le) {
			t.Fatalf("second LockServe(%s): err = %v, want ErrLocked", path, err)
		}
		msg := err.Error()
		for _, want := range []string{"another wxpush server is already using " + db, db + ".lock", "pid " + strconv.Itoa(os.Getpid())} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
	}
	// Another database in the same directory is not affected.
	other, err := store.LockServe(filepath.Join(dir, "other.db"))
	if err != nil {
		t.Fatalf("another database: %v", err)
	}
	other()

	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Errorf("second unlock: %v", err)
	}
	again, err := store.LockServe(link)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}

func TestLockServe_BadPaths(t *testing.T) {
	tests := []struct{ name, path, want string }{
		{"empty", "", "database path is empty"},
		{"no such directory", filepath.Join(t.TempDir(), "missing", "wxpush.db"), "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unlock, err := store.LockServe(tt.path)
			if err == nil {
				unlock()
				t.Fatal("locked")
			}
			if errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
