package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// One server per database. Two wxpush servers on one database would both
// claim and send the same deliveries (SQLite lets them take turns writing;
// nothing stops them) and each would serve its own stale cache. SQLite's
// locks cannot tell: they are per transaction. LockServe is the server's
// own lock, held for as long as it serves.

// ErrLocked is what LockServe's error matches (errors.Is) when another
// process serves the database.
var ErrLocked = errors.New("database is served by another process")

// LockedError says which database is served, by whom.
type LockedError struct {
	DB       string // absolute path of the database file
	LockFile string
	PID      int // the holder's, as written in the lock file; 0 if unreadable
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("another wxpush server is already using %s (lock file %s held by %s); "+
		"stop it first, or give this one another database with -db or WXPUSH_DB", e.DB, e.LockFile, holder)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockServe takes the exclusive serving lock of the database at path, or
// fails at once with a *LockedError when another process (or another
// LockServe in this one) holds it. The lock is flock(2) on path + ".lock",
// next to the database (symbolic links resolved, so two names of one file
// share it), and the file holds the holder's pid for that message. The
// kernel releases it when the process dies, however it dies; unlock
// releases it before that. The lock file stays: deleting it would let a
// process lock a file that another one already replaced.
//
// Only serve takes it. Commands that write while a server runs (wxpush
// send, wxpush user add) do not: the server notices their commits (see
// watchExternalWrites).
func LockServe(path string) (unlock func() error, err error) {
	if path == "" {
		return nil, errors.New("database path is empty")
	}
	db, err := resolveDB(path)
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	lockPath := db + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{DB: db, LockFile: lockPath, PID: pid}
		}
		return nil, fmt.Errorf("lock database: flock %s: %w", lockPath, err)
	}
	if err := writePID(f); err != nil {
		f.Close() // releases the lock
		return nil, fmt.Errorf("lock database: write %s: %w", lockPath, err)
	}
	var once sync.Once
	return func() error { // later calls do nothing and return nil
		var err error
		once.Do(func() {
			err = errors.Join(f.Truncate(0), syscall.Flock(fd, syscall.LOCK_UN), f.Close())
		})
		return err
	}, nil
}

// resolveDB is the absolute path of the database file with symbolic links
// resolved, the file's own included even when it does not exist yet (it
// is where SQLite will create it).
func resolveDB(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for range 40 { // the kernel's limit on links followed
		dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
		if err != nil {
			return "", err
		}
		abs = filepath.Join(dir, filepath.Base(abs))
		target, err := os.Readlink(abs)
		if err != nil { // not a link, or nothing there yet
			return abs, nil
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		abs = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the holder's pid; 0 when the file holds none (yet).
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
