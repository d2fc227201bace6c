package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mattn/go-sqlite3"
)

// ErrBackupExists is returned by Backup when the destination exists and
// force is false.
var ErrBackupExists = errors.New("backup destination already exists")

// Backup writes a consistent copy of the database to dst while it keeps
// serving. An existing dst is refused unless force is set. The copy is
// written to a temporary file beside dst (mode 0600: it holds password
// hashes and the access token), synced, and only then renamed to dst, so
// dst is never a half-written database.
//
// It uses SQLite's online backup API rather than VACUUM INTO: the copy is
// taken in one step from a read connection, under a single read
// transaction (so it is a snapshot of one commit), and WAL lets writers in
// this and other processes commit meanwhile. VACUUM INTO would be just as
// consistent, but it needs a writable connection (query_only refuses it),
// which here is the single write connection that every writer queues on.
func (s *Store) Backup(ctx context.Context, dst string, force bool) error {
	if dst == "" {
		return errors.New("backup: destination is empty")
	}
	if !force {
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("backup %s: %w", dst, ErrBackupExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: %w", err)
		}
	}
	tmpf, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := tmpf.Name()
	tmpf.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
		// The destination connection may leave a rollback journal behind
		// if it failed half-way.
		os.Remove(tmp + "-journal")
	}()

	if err := s.backupTo(ctx, tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if force {
		err = os.Rename(tmp, dst)
	} else {
		// A hard link fails if dst appeared meanwhile, where a rename
		// would silently replace it.
		if err = os.Link(tmp, dst); err == nil {
			os.Remove(tmp)
		} else if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%s: %w", dst, ErrBackupExists)
		}
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// backupTo copies the database page by page into the (empty) file path.
func (s *Store) backupTo(ctx context.Context, path string) error {
	ddb, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer ddb.Close()
	dconn, err := ddb.Conn(ctx)
	if err != nil {
		return err
	}
	defer dconn.Close()
	sconn, err := s.rdb.Conn(ctx)
	if err != nil {
		return err
	}
	defer sconn.Close()

	return dconn.Raw(func(dc any) error {
		dst, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return sconn.Raw(func(sc any) error {
			src, ok := sc.(*sqlite3.SQLiteConn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", sc)
			}
			b, err := dst.Backup("main", src, "main")
			if err != nil {
				return err
			}
			// Step(-1) copies every page in one step, holding one read
			// transaction on the source: the copy is a single snapshot.
			_, serr := b.Step(-1)
			return errors.Join(serr, b.Finish())
		})
	})
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// CheckWritable reports whether a write transaction can start now: the
// single write connection is free within ctx's deadline and SQLite grants
// the write lock. Nothing is written. Readiness checks use it.
func (s *Store) CheckWritable(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock=immediate)
	if err != nil {
		return err
	}
	return tx.Rollback()
}
