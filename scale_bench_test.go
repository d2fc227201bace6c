package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
)

// seedBoundUsers fills a fresh database at path with n users, each bound
// to WeChat, by bulk insert: one transaction, prepared statements, every
// user with the same (valid) password hash. About 10 s per million here.
func seedBoundUsers(tb testing.TB, path string, n int) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path) // migrations
	if err != nil {
		tb.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF&_foreign_keys=on")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte("password-seed"), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	users, err := tx.Prepare(`INSERT INTO users(id, public_id, name, password_hash, is_admin, created_at) VALUES(?, ?, ?, ?, 0, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	binds, err := tx.Prepare(`INSERT INTO bindings(user_id, openid, nickname, bound_at) VALUES(?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for i := 1; i <= n; i++ {
		if _, err := users.Exec(i, fmt.Sprintf("seed%020d", i), fmt.Sprintf("user%07d", i), string(hash), now); err != nil {
			tb.Fatal(err)
		}
		if _, err := binds.Exec(i, fmt.Sprintf("oSeed%023d", i), fmt.Sprintf("用户%d", i), now); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkScaleRSS seeds N bound users (BENCH_SCALE_N, a comma-separated
// list; default 10000,100000) and reports the resident memory of a
// `wxpush` serve process on that database in sandbox mode: after start-up
// and a few /readyz, and its peak (VmHWM). It builds the binary once.
// `task bench:scale`; figures in docs/benchmarks.md.
func BenchmarkScaleRSS(b *testing.B) {
	ns := []int{10_000, 100_000}
	if v := os.Getenv("BENCH_SCALE_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("BENCH_SCALE_N=%q: want numbers such as 10000,100000", v)
			}
			ns = append(ns, n)
		}
	}
	bin := filepath.Join(b.TempDir(), "wxpush")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, n := range ns {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "wxpush.db")
			t0 := time.Now()
			seedBoundUsers(b, path, n)
			seed := time.Since(t0)
			fi, _ := os.Stat(path)
			rss, hwm := serveRSS(b, bin, path)
			b.ReportMetric(seed.Seconds(), "s-to-seed")
			b.ReportMetric(float64(fi.Size())/(1<<20), "db-MB")
			b.ReportMetric(rss, "rss-MB")
			b.ReportMetric(hwm, "peak-rss-MB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// serveRSS runs the binary on db until it answers /readyz, then reads its
// VmRSS and VmHWM in MiB.
func serveRSS(b *testing.B, bin, db string) (rss, hwm float64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WXPUSH_DB="+db, "WXPUSH_ADDR="+addr, "WXPUSH_LOG_LEVEL=warn", "WX_APP_ID=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for ready := 0; ready < 5; {
		if time.Now().After(deadline) {
			b.Fatal("the server did not answer /readyz")
		}
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			ready++
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // start-up jobs (template sync, first token) settle
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
