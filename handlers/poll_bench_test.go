package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkBindStatusPoll is the binding page's 2-second poll served in
// process (no sockets): session lookup, token status, fragment. It
// isolates the handler's CPU cost from the loopback load of
// BenchmarkBindStatusVsStatic, whose numbers swing with the machine's load.
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
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		app.Handler.ServeHTTP(rec, req.Clone(req.Context()))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
