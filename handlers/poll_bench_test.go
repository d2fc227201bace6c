//go:build unix

package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBindStatusPoll is the binding page's 2-second poll served in
// process (no sockets): session lookup, token status, fragment. It
// isolates the handler's cost from the loopback load of
// BenchmarkBindStatusVsStatic. Besides ns/op (wall time, which swings with
// whatever else the machine runs) it reports cpu-ns/op, the process's user
// and system CPU time per poll, which other processes barely move.
func BenchmarkBindStatusPoll(b *testing.B) {
	app := newTestApp(b)
	br := app.browser(b)
	br.signup("alice")
	_, tid := br.bindQR()
	cookie := br.cookie()
	req := httptest.NewRequest("GET", "/bind/status?t="+tid, nil)
	req.Header.Set("HX-Request", "true")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	app.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "等待扫码") {
		b.Fatalf("poll: %d\n%s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		app.Handler.ServeHTTP(rec, req.Clone(req.Context()))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n), "cpu-ns/op")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
