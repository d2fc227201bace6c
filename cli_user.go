package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// runUser is `wxpush user add NAME [-admin]`, the password read from stdin.
func runUser(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: wxpush user add NAME [-admin] [-db FILE]  (password from stdin)")
	}
	args = args[1:]
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	admin := fs.Bool("admin", false, "make the user an admin")
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return errors.New("usage: wxpush user add NAME [-admin]  (password from stdin)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := service.New(service.Deps{Store: st}, service.Config{}).CreateUser(ctx, name, password, *admin)
	switch service.ErrorCode(err) {
	case service.EConflict:
		return fmt.Errorf("user %q already exists", name)
	case service.EInvalid:
		return errors.New(service.AsError(err).Message)
	}
	if err != nil {
		return err
	}
	role := "user"
	if u.IsAdmin {
		role = "admin"
	}
	fmt.Fprintf(stdout, "created %s %q (id %s)\n", role, u.Name, u.PublicID)
	return nil
}
