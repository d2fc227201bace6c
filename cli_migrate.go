package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/wxpush/wxpush/store"
)

// runMigrate is `wxpush migrate status`: which schema migrations are applied.
func runMigrate(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New("usage: wxpush migrate status [-db FILE]")
	}
	fs := flag.NewFlagSet("migrate status", flag.ContinueOnError)
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := store.OpenNoMigrate(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%05d  %-28s %s\n", m.Version, m.Name, state)
	}
	return nil
}
