package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// BenchmarkEventIngest plays WeChat's servers pushing messages and events
// to POST /wechat over loopback, signed and AES-encrypted (safe mode, docs/wechat.md §8):
// 20,000 distinct pushes from 64 concurrent connections, plus 10 % resent
// (WeChat's retries), which must be de-duplicated. It reports pushes/s and
// latency percentiles, and fails unless the stored count equals the number
// of distinct pushes. The pushes are built and encrypted before the clock
// starts: that is WeChat's work, not ours. Run once: -benchtime=1x.
func BenchmarkEventIngest(b *testing.B) {
	const distinct, conns = 20000, 64
	db := filepath.Join(b.TempDir(), "wxpush.db")
	base := startApp(b, map[string]string{"WXPUSH_DB": db})

	// The sandbox app's credentials, as the server itself loaded them.
	st, err := store.Open(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	raw, err := st.Setting(context.Background(), "sandbox_app")
	if err != nil {
		b.Fatal(err)
	}
	var app sandboxApp
	if err := json.Unmarshal(raw, &app); err != nil {
		b.Fatal(err)
	}
	cr, err := wechat.NewCrypter(app.Token, app.AESKey, app.AppID)
	if err != nil {
		b.Fatal(err)
	}

	type push struct {
		url  string
		body []byte
	}
	now := time.Now().Unix()
	build := func(i int) push {
		openid := fmt.Sprintf("oBench%022d", i%2000)
		m := wechat.Inbound{ToUserName: "gh_bench", FromUserName: openid, CreateTime: now + int64(i/2000)}
		switch i % 4 {
		case 0:
			m.MsgType, m.Event = "event", "subscribe"
		case 3:
			m.MsgType, m.Event = "event", "unsubscribe"
		default:
			m.MsgType, m.Content, m.MsgID = "text", "压测消息 "+strconv.Itoa(i), 7000000000000000000+int64(i)
		}
		enc, err := cr.Encrypt(m.XML())
		if err != nil {
			b.Fatal(err)
		}
		ts, nonce := strconv.FormatInt(now, 10), strconv.Itoa(100000+i)
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(app.Token, ts, nonce)},
			"openid": {openid}, "encrypt_type": {"aes"}, "msg_signature": {cr.Sign(ts, nonce, enc)}}
		body := []byte("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
		return push{base + "/wechat?" + q.Encode(), body}
	}
	pushes := make([]push, 0, distinct*11/10)
	for i := range distinct {
		pushes = append(pushes, build(i))
	}
	for i := 0; i < distinct; i += 10 {
		pushes = append(pushes, pushes[i]) // WeChat's retries: the very same request
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
	var next sync.Mutex
	idx := 0
	lat := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				i := idx
				idx++
				next.Unlock()
				if i >= len(pushes) {
					return
				}
				t0 := time.Now()
				res, err := client.Post(pushes[i].url, "text/xml", bytes.NewReader(pushes[i].body))
				if err != nil {
					errs[w] = err
					return
				}
				var buf bytes.Buffer
				buf.ReadFrom(res.Body)
				res.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if res.StatusCode != 200 {
					errs[w] = fmt.Errorf("push %d: HTTP %d %s", i, res.StatusCode, buf.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	stored, err := st.CountInbound(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	rate := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rate, "pushes/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(stored), "stored")
	b.Logf("%d pushes (%d distinct + %d resent) from %d connections in %v: %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms; stored %d",
		len(all), distinct, len(pushes)-distinct, conns, elapsed.Round(time.Millisecond), rate, pct(0.5), pct(0.99), pct(1), stored)
	if stored != distinct {
		b.Fatalf("stored %d pushes, want exactly the %d distinct ones", stored, distinct)
	}
}
