package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Knobs for BenchmarkBindStatusVsStatic; see docs/benchmarks.md.
var (
	benchDur      = flag.Duration("wxbench.dur", 5*time.Second, "measured time per target in BenchmarkBindStatusVsStatic")
	benchConns    = flag.Int("wxbench.conns", 256, "concurrent keep-alive connections in BenchmarkBindStatusVsStatic")
	benchLogLevel = flag.String("wxbench.loglevel", "warn", "WXPUSH_LOG_LEVEL of the server under load (info turns the access log on)")
	benchWrk      = flag.String("wxbench.wrk", "", "path of wrk: load the server from a wrk process instead of in-process workers (the CPU profile is then the server's alone)")
)

var benchPollURL = regexp.MustCompile(`hx-get="(/bind/status\?t=\d+)"`)

// BenchmarkBindStatusVsStatic compares the authenticated htmx poll
// GET /bind/status with a static file of similar size served by the same
// binary, under the same load: *benchConns workers, each on its own
// keep-alive loopback connection, sending the next request as soon as the
// previous answer is read (closed loop, like wrk).
//
// The load run happens once, whatever b.N is: run it with -benchtime=1x.
// Targets are measured in turn rather than mixed, so each gets the whole
// machine; the order is warm-up, then static, poll, poll, static (ABBA), each
// phase half of -wxbench.dur, so slow drift (CPU frequency, GC heap growth,
// SQLite page cache) weighs on both targets alike.
func BenchmarkBindStatusVsStatic(b *testing.B) {
	base := startApp(b, map[string]string{"WXPUSH_LOG_LEVEL": *benchLogLevel})
	host := strings.TrimPrefix(base, "http://")

	// Sign up in a browser-like client and find the page's poll URL.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"name": {"bench"}, "password": {"bench-password"}, "password2": {"bench-password"}}
	req, _ := http.NewRequest("POST", base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.Fatalf("POST /signup: %d, want 303", res.StatusCode)
	}
	res, err = c.Get(base + "/bind")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := benchPollURL.FindSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		b.Fatalf("GET /bind: %d, no poll URL in\n%s", res.StatusCode, page)
	}
	var cookie string
	for _, ck := range jar.Cookies(&url.URL{Scheme: "http", Host: host, Path: "/"}) {
		if ck.Name == "wxpush_session" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if cookie == "" {
		b.Fatal("no session cookie after signup")
	}

	poll := benchTarget{name: "poll", path: string(m[1]),
		req: benchGet(host, string(m[1]), "HX-Request: true", "Cookie: "+cookie)}
	pollBody := benchFetch(b, host, poll.req)
	if !strings.Contains(pollBody, "等待扫码") {
		b.Fatalf("poll body is not the waiting fragment:\n%s", pollBody)
	}
	poll.size = len(pollBody)

	// The static file closest in size to the poll's body.
	var static benchTarget
	var sizes []string
	for _, p := range []string{"/static/favicon.svg", "/static/app.css"} {
		r := benchGet(host, p)
		n := len(benchFetch(b, host, r))
		sizes = append(sizes, fmt.Sprintf("%s %d B", p, n))
		if static.req == nil || max(n-poll.size, poll.size-n) < max(static.size-poll.size, poll.size-static.size) {
			static = benchTarget{name: "static", path: p, req: r, size: n}
		}
	}
	b.Logf("bodies: %s %d B; %s; comparing with %s", poll.path, poll.size, strings.Join(sizes, ", "), static.path)

	if *benchWrk != "" {
		benchWithWrk(b, base, static, poll, cookie)
		return
	}

	conns := make([]*benchConn, *benchConns)
	for i := range conns {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = &benchConn{c: nc, br: bufio.NewReader(nc)}
	}

	// Warm-up: connections open, handlers, SQLite statements and page cache,
	// the heap at its working size.
	warm := min(*benchDur/5, time.Second)
	benchPhase(b, conns, static, warm, nil)
	benchPhase(b, conns, poll, warm, nil)

	lat := map[string][][]time.Duration{}
	for _, t := range []benchTarget{static, poll} {
		lat[t.name] = make([][]time.Duration, len(conns))
		for i := range conns {
			lat[t.name][i] = make([]time.Duration, 0, 4096)
		}
	}
	elapsed := map[string]time.Duration{}
	half := *benchDur / 2
	var phases []string
	for _, t := range []benchTarget{static, poll, poll, static} {
		d, n := benchPhase(b, conns, t, half, lat[t.name])
		elapsed[t.name] += d
		phases = append(phases, fmt.Sprintf("%s %.0f", t.name, float64(n)/d.Seconds()))
	}
	b.Logf("req/s by phase: %s", strings.Join(phases, ", "))

	// The poll must still have been answering "waiting" (the token did not
	// expire during the run), or we measured a different fragment.
	if body := benchFetch(b, host, poll.req); !strings.Contains(body, "等待扫码") {
		b.Fatalf("poll body changed during the run:\n%s", body)
	}

	type result struct {
		n             int
		rps           float64
		p50, p99, max time.Duration
	}
	summarize := func(name string) result {
		var all []time.Duration
		for _, l := range lat[name] {
			all = append(all, l...)
		}
		slices.Sort(all)
		return result{
			n:   len(all),
			rps: float64(len(all)) / elapsed[name].Seconds(),
			p50: benchPercentile(all, 0.50), p99: benchPercentile(all, 0.99), max: all[len(all)-1],
		}
	}
	ps, ss := summarize("poll"), summarize("static")
	ratio := ps.rps / ss.rps
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

	b.Logf("%d connections, %v per target, log level %s", len(conns), *benchDur, *benchLogLevel)
	b.Logf("%-28s %6s %9s %9s %9s %9s %9s", "target", "bytes", "requests", "req/s", "p50 ms", "p99 ms", "max ms")
	for _, r := range []struct {
		t benchTarget
		r result
	}{{static, ss}, {poll, ps}} {
		b.Logf("%-28s %6d %9d %9.0f %9.2f %9.2f %9.2f", r.t.path, r.t.size, r.r.n, r.r.rps, ms(r.r.p50), ms(r.r.p99), ms(r.r.max))
	}
	b.Logf("ratio poll/static req/s = %.2f (target ≥ 0.6)", ratio)

	b.ReportMetric(0, "ns/op") // one load run, not b.N operations
	b.ReportMetric(ps.rps, "poll_rps")
	b.ReportMetric(ss.rps, "static_rps")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(ms(ps.p99), "poll_p99_ms")
	b.ReportMetric(ms(ss.p99), "static_p99_ms")
	b.ReportMetric(ms(ps.p50), "poll_p50_ms")
	b.ReportMetric(ms(ss.p50), "static_p50_ms")
}

type benchTarget struct {
	name, path string
	req        []byte // the whole HTTP/1.1 request, sent as is
	size       int    // response body bytes
}

// benchConn is one keep-alive connection driven by one worker. A bare
// connection rather than http.Transport: the load generator shares the two
// cores with the server, so it should spend as little CPU as it can.
type benchConn struct {
	c  net.Conn
	br *bufio.Reader
}

func benchGet(host, path string, headers ...string) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wxbench\r\n", path, host)
	for _, h := range headers {
		sb.WriteString(h + "\r\n")
	}
	sb.WriteString("\r\n")
	return []byte(sb.String())
}

// do sends one request and reads the whole response; any status but 200 is
// an error.
func (c *benchConn) do(req []byte, body io.Writer) error {
	if _, err := c.c.Write(req); err != nil {
		return err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(body, res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	if res.Close {
		return fmt.Errorf("server closed the connection")
	}
	return nil
}

func benchFetch(b *testing.B, host string, req []byte) string {
	b.Helper()
	nc, err := net.Dial("tcp", host)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var body strings.Builder
	if err := (&benchConn{c: nc, br: bufio.NewReader(nc)}).do(req, &body); err != nil {
		b.Fatalf("%s: %v\n%s", strings.SplitN(string(req), "\r\n", 2)[0], err, body.String())
	}
	return body.String()
}

// runPhase has every connection send t's request back to back for d and
// returns the phase's wall time (until the last in-flight answer) and the
// number of requests. With lat non-nil, worker i appends each latency to
// lat[i]: one slice per worker, so no locking while the clock runs.
func benchPhase(b *testing.B, conns []*benchConn, t benchTarget, d time.Duration, lat [][]time.Duration) (time.Duration, int) {
	b.Helper()
	const maxPerPhase = 1 << 22 // a bound on each worker's loop, far above any rate seen
	counts := make([]int, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for i, c := range conns {
		c.c.SetDeadline(stop.Add(30 * time.Second))
		wg.Go(func() {
			for n := 0; n < maxPerPhase; n++ {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if err := c.do(t.req, io.Discard); err != nil {
					errs[i] = err
					return
				}
				counts[i]++
				if lat != nil {
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := benchErrs(errs); err != nil {
		b.Fatalf("%s %s: %v", t.name, t.path, err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return elapsed, total
}

func benchErrs(errs []error) error {
	n, first := 0, error(nil)
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d connections failed, first: %w", n, len(errs), first)
}

// benchPercentile returns the nearest-rank p-quantile of sorted durations.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// benchWithWrk runs the same ABBA phases with wrk (one process, two
// threads, *benchConns connections). wrk reports each phase's own
// percentiles, which cannot be merged: the p99 reported is the worse phase's.
func benchWithWrk(b *testing.B, base string, static, poll benchTarget, cookie string) {
	secs := max(1, int(benchDur.Seconds()/2))
	wrk := func(t benchTarget, d int) (reqs int, elapsed, p99 float64) {
		args := []string{"-c", strconv.Itoa(*benchConns), "-t", "2", "-d", strconv.Itoa(d) + "s", "--latency"}
		if t.name == "poll" {
			args = append(args, "-H", "HX-Request: true", "-H", "Cookie: "+cookie)
		}
		out, err := exec.Command(*benchWrk, append(args, base+t.path)...).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
			b.Fatalf("wrk %s: errors\n%s", t.path, out)
		}
		m := regexp.MustCompile(`(\d+) requests in ([\d.]+)(m?s)`).FindSubmatch(out)
		l := regexp.MustCompile(`99%\s+([\d.]+)(us|ms|s)`).FindSubmatch(out)
		if m == nil || l == nil {
			b.Fatalf("wrk output not understood:\n%s", out)
		}
		reqs, _ = strconv.Atoi(string(m[1]))
		elapsed, _ = strconv.ParseFloat(string(m[2]), 64)
		if string(m[3]) == "ms" {
			elapsed /= 1000
		}
		p99, _ = strconv.ParseFloat(string(l[1]), 64)
		p99 *= map[string]float64{"us": 0.001, "ms": 1, "s": 1000}[string(l[2])]
		return reqs, elapsed, p99
	}
	wrk(static, 1) // warm-up
	wrk(poll, 1)
	type acc struct{ reqs, secs, p99 float64 }
	res := map[string]*acc{"static": {}, "poll": {}}
	var phases []string
	for _, t := range []benchTarget{static, poll, poll, static} {
		n, e, p := wrk(t, secs)
		a := res[t.name]
		a.reqs += float64(n)
		a.secs += e
		a.p99 = max(a.p99, p)
		phases = append(phases, fmt.Sprintf("%s %.0f (p99 %.2f ms)", t.name, float64(n)/e, p))
	}
	ps, ss := res["poll"], res["static"]
	ratio := (ps.reqs / ps.secs) / (ss.reqs / ss.secs)
	b.Logf("wrk, %d connections, %ds per phase, log level %s: %s", *benchConns, secs, *benchLogLevel, strings.Join(phases, ", "))
	b.Logf("static %.0f req/s, poll %.0f req/s, ratio %.2f (target ≥ 0.6)", ss.reqs/ss.secs, ps.reqs/ps.secs, ratio)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ps.reqs/ps.secs, "poll_rps")
	b.ReportMetric(ss.reqs/ss.secs, "static_rps")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(ps.p99, "poll_p99_ms")
	b.ReportMetric(ss.p99, "static_p99_ms")
}
