package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"debug/elf"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// staticBuildArgs are `task build`'s (Taskfile.yml): cgo SQLite linked
// statically against glibc; netgo and osusergo keep glibc's NSS (which
// cannot be linked statically) out, and no extension loading means no dlopen.
var staticBuildArgs = []string{
	"build", "-trimpath", "-buildvcs=true",
	"-tags", "osusergo netgo sqlite_omit_load_extension",
	"-ldflags", `-s -w -linkmode external -extldflags "-static"`,
}

func TestStaticBinary_StartsAnswersHealthzAndPrintsVersion(t *testing.T) {
	skipUnderShort(t, "builds the static binary (a minute or two cold)")
	ci := os.Getenv("CI") == "true"
	if runtime.GOOS != "linux" {
		t.Skip("the static build is for Linux")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		if ci {
			t.Fatal("the static build needs gcc (cgo): ", err)
		}
		t.Skip("no gcc for the cgo build")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wxpush")
	build := exec.Command(goBin, append(staticBuildArgs, "-o", bin, ".")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %d bytes", fi.Size())
	}

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("binary has a %v program header: it is dynamically linked", p.Type)
			}
		}
		if f.Section(".dynamic") != nil {
			t.Error("binary has a .dynamic section")
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "-version").CombinedOutput()
		if err != nil {
			t.Fatalf("-version: %v\n%s", err, out)
		}
		v := string(out)
		if !strings.HasPrefix(v, "wxpush ") || !strings.Contains(v, "go1.") {
			t.Errorf("-version = %q, want wxpush's version and the Go version", v)
		}
		// Built from a git checkout, the version names its commit.
		if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			if want := "vcs.revision=" + strings.TrimSpace(string(head)); !strings.Contains(v, want) {
				t.Errorf("-version = %q, want %s", v, want)
			}
		}
	})

	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir() // no .env here
		cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "x.db"))
		cmd.Dir = dir
		cmd.Env = []string{"WXPUSH_LOG_LEVEL=warn", "PATH=/usr/bin:/bin"}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		base := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if l, ok := strings.CutPrefix(sc.Text(), "wxpush listening on "); ok {
					base <- strings.Fields(l)[0]
				}
			}
			exited <- cmd.Wait() // after stdout is drained, as Wait requires
		}()
		defer func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
			}
		}()
		var url string
		select {
		case url = <-base:
		case err := <-exited:
			t.Fatalf("binary exited before listening: %v\n%s", err, stderr.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("binary did not start listening\n%s", stderr.String())
		}

		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", resp.StatusCode, body)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want a clean exit\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("binary did not exit after SIGTERM\n%s", stderr.String())
		}
	})
}

func TestRun_VersionFlag(t *testing.T) {
	for _, arg := range []string{"-version", "--version", "version"} {
		var out bytes.Buffer
		if err := run(t.Context(), []string{arg}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "wxpush ") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}

func TestRun_BackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxpush.db")
	env := map[string]string{"WXPUSH_DB": db}
	startApp(t, env) // the server has the database open
	getenv := func(k string) string { return env[k] }
	dest := filepath.Join(dir, "backup.db")

	var out bytes.Buffer
	if err := run(t.Context(), []string{"backup", dest}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out.String(), "backed up") {
		t.Errorf("backup printed %q", out.String())
	}
	cp, err := sql.Open("sqlite3", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var check string
	var migrations int
	if err := cp.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	if err := cp.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&migrations); err != nil || migrations == 0 {
		t.Errorf("copy has %d migrations recorded (%v); want the live schema", migrations, err)
	}

	// An existing file is kept unless -force is given (flags after DEST work).
	err = run(t.Context(), []string{"backup", dest}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("backup over an existing file: err = %v, want a hint at -force", err)
	}
	if err := run(t.Context(), []string{"backup", dest, "-force"}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("backup -force: %v", err)
	}
	if err := run(t.Context(), []string{"backup"}, getenv, nil, io.Discard, io.Discard); err == nil {
		t.Error("backup without DEST succeeded")
	}
	if err := run(t.Context(), []string{"backup", "-db", filepath.Join(dir, "nope.db"), filepath.Join(dir, "b2.db")}, getenv, nil, io.Discard, io.Discard); err == nil {
		t.Error("backup of a missing database succeeded (it must not create one)")
	}
}

func TestRun_BadOperationsConfig(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"WXPUSH_TRUSTED_PROXIES", "127.0.0.1, localhost", "WXPUSH_TRUSTED_PROXIES"},
		{"WXPUSH_RETENTION_DAYS", "-1", "WXPUSH_RETENTION_DAYS"},
		{"WXPUSH_AUDIT_RETENTION_DAYS", "a year", "WXPUSH_AUDIT_RETENTION_DAYS"},
	} {
		env := map[string]string{tc.key: tc.val, "WXPUSH_DB": filepath.Join(t.TempDir(), "x.db")}
		err := run(t.Context(), []string{"serve", "-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want one naming %s", tc.key, tc.val, err, tc.want)
		}
	}
}
