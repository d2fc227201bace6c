package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A second server on the database of a running one exits at once with a
// message naming the database and the first one's pid; once the first has
// stopped, a new one starts.
func TestRun_SecondServerOnTheSameDatabaseExitsAtOnce(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "wxpush.db")
	env := map[string]string{"WXPUSH_DB": db}
	t.Run("while the first serves", func(t *testing.T) {
		startApp(t, env) // stops when this subtest ends

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "-addr", "127.0.0.1:0"}, func(k string) string { return env[k] },
				strings.NewReader(""), pw, io.Discard)
			pw.Close()
		}()
		listening := make(chan struct{})
		go func() {
			var once sync.Once
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "wxpush listening on ") {
					once.Do(func() { close(listening) })
				}
			}
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("second server returned no error")
			}
			want := "another wxpush server is already using " + db + " (lock file " + db + ".lock held by pid " + strconv.Itoa(os.Getpid()) + ")"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
		case <-listening:
			cancel()
			<-done
			t.Fatal("a second server started on the same database")
		}
	})
	startApp(t, env)
}
