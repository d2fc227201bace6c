package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wxpush/wxpush/store"
)

const backupUsage = "usage: wxpush backup [-db FILE] [-force] DEST"

// runBackup copies the live database to DEST. It is safe while the server
// runs: this process only reads the database (WAL lets the server keep
// writing), and it never migrates it, so a newer binary can back up the
// database of an older running server before an upgrade.
func runBackup(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file (WXPUSH_DB)")
	force := fs.Bool("force", false, "replace DEST if it exists")
	// Flags may come before or after DEST.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return errors.New(backupUsage)
	}
	dest := pos[0]
	if _, err := os.Stat(*db); err != nil {
		return fmt.Errorf("backup: database %s: %w", *db, err)
	}
	st, err := store.OpenNoMigrate(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := st.Backup(ctx, dest, *force); err != nil {
		if errors.Is(err, store.ErrBackupExists) {
			return fmt.Errorf("%s exists; use -force to replace it", dest)
		}
		return err
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, %s)\n", *db, dest, fi.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}
