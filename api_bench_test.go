package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

var apiBenchDur = flag.Duration("wxbench.apidur", 5*time.Second, "measured time per client count in BenchmarkAPIPush")

// BenchmarkAPIPush is the load generator for the HTTP API (task bench:api):
// programs POST /api/v1/messages (a template message to one of 100 bound
// users) over loopback with 1, 16 and 64 concurrent clients, each for
// -wxbench.apidur. It reports accepted requests/s, p50/p99 accept latency
// and deliveries/s (accepted → delivered in the sandbox). Run once:
// -benchtime=1x.
func BenchmarkAPIPush(b *testing.B) {
	ctx := context.Background()
	db := filepath.Join(b.TempDir(), "wxpush.db")
	// The per-token limit (50/s by default) would be what is measured.
	env := map[string]string{"WXPUSH_DB": db, "WXPUSH_API_RATE": "1000000"}
	if m := os.Getenv("WXBENCH_MAX_INFLIGHT"); m != "" {
		env["WXPUSH_MAX_INFLIGHT"] = m
	}
	if w := os.Getenv("WXBENCH_WORKERS"); w != "" {
		env["WXPUSH_WORKERS"] = w
	}
	base := startApp(b, env)

	st, err := store.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.SetBcryptCost(bcrypt.MinCost)
	raw, err := st.Setting(ctx, "sandbox_app")
	if err != nil {
		b.Fatal(err)
	}
	var app sandboxApp
	json.Unmarshal(raw, &app)

	// 100 bound users: simulated WeChat users in the running sandbox, bound
	// through the store.
	const users = 100
	names := make([]string, users)
	for i := range users {
		names[i] = fmt.Sprintf("api%03d", i)
		res, err := http.PostForm(base+"/sandbox/users", url.Values{"nickname": {names[i]}})
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		u, err := st.CreateUser(ctx, names[i], "password-"+names[i], false, false)
		if err != nil {
			b.Fatal(err)
		}
		tok, _, _ := st.NewBindToken(ctx, u.ID, time.Minute)
		if _, err := st.CompleteBinding(ctx, tok, store.Binding{OpenID: sandbox.OpenID(app.AppID, names[i])}); err != nil {
			b.Fatal(err)
		}
	}
	token, _, err := st.CreateAPIToken(ctx, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	// The template synced at start-up with title and content fields.
	var tid string
	for deadline := time.Now().Add(30 * time.Second); tid == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ts, _ := st.Templates(ctx)
		for _, t := range ts {
			if keys := (wechat.Template{Content: t.Content}).Keys(); slices.Contains(keys, "title") && slices.Contains(keys, "content") {
				tid = t.ID
			}
		}
	}
	if tid == "" {
		b.Fatal("no title+content template synced")
	}

	gen := inProcessLoad(base, token, tid, names)
	if os.Getenv("WXBENCH_LOAD") == "wrk" {
		gen = wrkLoad(b, base, token, tid, names)
	}
	b.ResetTimer()
	var lines []string
	for _, clients := range []int{1, 16, 64} {
		firstMsg := lastMessageID(b, st) + 1
		start := time.Now()
		r, err := gen(clients, *apiBenchDur)
		if err != nil {
			b.Fatal(err)
		}
		// Deliveries: until every message of this phase is final.
		var delivered time.Duration
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			pending, failed := pendingSince(b, st, firstMsg)
			if failed > 0 {
				b.Fatalf("%d deliveries failed", failed)
			}
			if pending == 0 {
				delivered = time.Since(start)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d deliveries still pending", pending)
			}
		}
		rps := float64(r.n) / r.dur.Seconds()
		dps := float64(r.n) / delivered.Seconds()
		lines = append(lines, fmt.Sprintf("%3d clients: %6d accepted in %v = %7.0f/s, accept p50 %6.2f ms p99 %6.2f ms max %6.2f ms; all delivered after %v = %7.0f deliveries/s",
			clients, r.n, r.dur.Round(time.Millisecond), rps, r.p50, r.p99, r.max, delivered.Round(time.Millisecond), dps))
		if clients == 64 {
			b.ReportMetric(rps, "accepted/s@64")
			b.ReportMetric(r.p99, "p99_ms@64")
			b.ReportMetric(dps, "deliveries/s@64")
		}
	}
	b.StopTimer()
	for _, l := range lines {
		b.Log(l)
	}
}

// loadResult is one phase of load: requests answered 202, over how long,
// and their latency percentiles in milliseconds.
type loadResult struct {
	n             int
	dur           time.Duration
	p50, p99, max float64
}

// loadGen runs clients closed-loop clients for d; any answer but 202 is an
// error.
type loadGen func(clients int, d time.Duration) (loadResult, error)

// inProcessLoad is the default load generator: Go HTTP clients in the
// benchmark's own process (so they share its two cores and its runtime).
func inProcessLoad(base, token, tid string, names []string) loadGen {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	body := func(i int) []byte {
		b, _ := json.Marshal(map[string]any{
			"to":       map[string]any{"users": []string{names[i%len(names)]}},
			"template": map[string]any{"id": tid, "data": map[string]string{"title": "压测", "content": fmt.Sprint(i)}},
		})
		return b
	}
	return func(clients int, d time.Duration) (loadResult, error) {
		lat := make([][]time.Duration, clients)
		errs := make([]error, clients)
		var wg sync.WaitGroup
		start := time.Now()
		stop := start.Add(d)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; time.Now().Before(stop); i += clients {
					req, _ := http.NewRequest("POST", base+"/api/v1/messages", bytes.NewReader(body(i)))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					t0 := time.Now()
					res, err := client.Do(req)
					if err != nil {
						errs[c] = err
						return
					}
					var buf bytes.Buffer
					buf.ReadFrom(res.Body)
					res.Body.Close()
					lat[c] = append(lat[c], time.Since(t0))
					if res.StatusCode != http.StatusAccepted {
						errs[c] = fmt.Errorf("HTTP %d: %s", res.StatusCode, buf.String())
						return
					}
				}
			}()
		}
		wg.Wait()
		r := loadResult{dur: time.Since(start)}
		if err := errors.Join(errs...); err != nil {
			return r, err
		}
		all := slices.Concat(lat...)
		slices.Sort(all)
		pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
		r.n, r.p50, r.p99, r.max = len(all), pct(0.5), pct(0.99), pct(1)
		return r, nil
	}
}

// wrkLoad generates the same requests with wrk (Debian package wrk), a
// separate process written in C: WXBENCH_LOAD=wrk. It checks that the
// in-process clients, which share the server's runtime, do not flatter or
// hurt the figures.
func wrkLoad(b *testing.B, base, token, tid string, names []string) loadGen {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("WXBENCH_LOAD=wrk needs wrk on PATH (apt-get install wrk)")
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	script := filepath.Join(b.TempDir(), "push.lua")
	lua := `local users = {` + strings.Join(quoted, ", ") + `}
local threads = {}
setup = function(thread) table.insert(threads, thread) end
-- Per thread (each has its own Lua state).
local i = 0
not202 = 0
request = function()
  i = i + 1
  local body = string.format('{"to":{"users":["%s"]},"template":{"id":"` + tid + `","data":{"title":"压测","content":"%d"}}}', users[i % #users + 1], i)
  return wrk.format("POST", "/api/v1/messages", {["Authorization"] = "Bearer ` + token + `", ["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 202 then not202 = not202 + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("not202") end
  local e = summary.errors
  io.write(string.format("wxbench %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max, bad, e.connect + e.read + e.write + e.timeout))
end
`
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		b.Fatal(err)
	}
	return func(clients int, d time.Duration) (loadResult, error) {
		threads := min(clients, 2)
		out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(clients),
			"-d", strconv.Itoa(int(d.Seconds()))+"s", "-s", script, base).CombinedOutput()
		if err != nil {
			return loadResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		_, line, ok := strings.Cut(string(out), "wxbench ")
		var n, durUs, p50, p99, maxUs, status, sock int
		if !ok {
			return loadResult{}, fmt.Errorf("wrk printed no summary:\n%s", out)
		}
		if _, err := fmt.Sscan(line, &n, &durUs, &p50, &p99, &maxUs, &status, &sock); err != nil {
			return loadResult{}, fmt.Errorf("wrk summary %q: %v", line, err)
		}
		if status > 0 || sock > 0 {
			return loadResult{}, fmt.Errorf("wrk: %d answers were not 202, %d socket errors", status, sock)
		}
		ms := func(us int) float64 { return float64(us) / 1000 }
		return loadResult{n: n, dur: time.Duration(durUs) * time.Microsecond, p50: ms(p50), p99: ms(p99), max: ms(maxUs)}, nil
	}
}

func lastMessageID(b *testing.B, st *store.Store) int64 {
	ms, err := st.Messages(context.Background(), 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	if len(ms) == 0 {
		return 0
	}
	return ms[0].ID
}

// pendingSince counts the not-yet-final and the failed deliveries of
// messages from id on.
func pendingSince(b *testing.B, st *store.Store, id int64) (pending, failed int) {
	n, f, err := st.DeliveryTotalsSince(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	return n, f
}
