package handlers_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	bindQRImg = `id="bind-qr"`
	qrImage   = regexp.MustCompile(`src="(data:image/png;base64,[^"]+)"[^>]*id="bind-qr"`)
)

// bindTokenRows counts the user's rows in bind_tokens, read from the
// database file.
func bindTokenRows(t *testing.T, app *testApp) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+app.DBPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM bind_tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func scanMode(c *testConfig) { c.Service.BindMode = "qrcode" }

// 300 loads of /bind by one user, 20 at a time, as a script hammering
// the page would: one token, one WeChat qrcode/create call, one QR.
func TestBind_ReloadsReuseTheLiveCode(t *testing.T) {
	app := newTestApp(t, scanMode)
	b := app.browser(t)
	b.signup("alice")
	first := b.get("/bind")
	if !strings.Contains(first.Body, `data-mode="scan"`) {
		t.Fatalf("not a parameterized QR code:\n%s", first.Body)
	}
	tid := statusID.FindStringSubmatch(first.Body)[1]
	qr := qrImage.FindStringSubmatch(first.Body)[1]

	jar := b.c.Jar
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	work := make(chan int)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Jar: jar}
			for range work {
				res, err := c.Get(app.URL + "/bind")
				if err != nil {
					errs <- err
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				m, q := statusID.FindStringSubmatch(string(body)), qrImage.FindStringSubmatch(string(body))
				if res.StatusCode != 200 || m == nil || q == nil || m[1] != tid || q[1] != qr {
					errs <- fmt.Errorf("GET /bind: %d, another code (token %v)", res.StatusCode, m)
				}
			}
		}()
	}
	for i := range 299 {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := bindTokenRows(t, app); n != 1 {
		t.Errorf("%d binding tokens after 300 loads, want 1", n)
	}
	if n := app.SB.Stats().QRCodesCreated; n != 1 {
		t.Errorf("%d qrcode/create calls after 300 loads, want 1", n)
	}
}

func TestBind_NewCodeWhenTheLiveOneIsUsedOrRunningOut(t *testing.T) {
	app := newTestApp(t) // OAuth binding, 10-minute codes
	b := app.browser(t)
	b.signup("alice")
	authURL, tid := b.bindQR()

	// Two thirds of the lifetime later the code is still offered...
	app.Clock.Advance(10*time.Minute*2/3 - time.Second)
	if _, again := b.bindQR(); again != tid {
		t.Fatalf("code %s replaced by %s with more than a third of its life left", tid, again)
	}
	// ...not once less than a third is left: no time to scan it.
	app.Clock.Advance(2 * time.Second)
	authURL2, tid2 := b.bindQR()
	if tid2 == tid || authURL2 == authURL {
		t.Fatal("a code with under a third of its lifetime left was offered again")
	}

	// A code that bound is never offered again.
	if r := app.browser(t).get(app.phoneDecides(t, authURL2, "张三", true)); r.Status != 200 {
		t.Fatalf("binding: %d", r.Status)
	}
	if r := b.post("/unbind", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d", r.Status)
	}
	if _, tid3 := b.bindQR(); tid3 == tid2 {
		t.Fatal("the used code was offered again")
	}
}

func TestBind_RefreshIsLimitedPerUser(t *testing.T) {
	app := newTestApp(t, scanMode)
	alice := app.browser(t)
	alice.signup("alice")
	_, last := alice.bindQR() // the first code
	for i := 2; i <= 10; i++ {
		r := alice.post("/bind/refresh", nil, "HX-Request", "true")
		m := statusID.FindStringSubmatch(r.Body)
		if r.Status != 200 || m == nil || m[1] == last {
			t.Fatalf("refresh %d: %d, same or no code\n%s", i, r.Status, r.Body)
		}
		last = m[1]
	}
	r := alice.post("/bind/refresh", nil, "HX-Request", "true")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("HX-Retarget") != "#htmx-error" {
		t.Fatalf("11th code: %d %v\n%s", r.Status, r.Header, r.Body)
	}
	retryAt := app.Clock.Now().Add(10 * time.Minute).In(time.FixedZone("CST", 8*3600)).Format("15:04:05")
	for _, want := range []string{"二维码生成太频繁", "每 10 分钟最多生成 10 个绑定二维码", retryAt} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.Body)
		}
	}
	if n := app.SB.Stats().QRCodesCreated; n != 10 {
		t.Errorf("%d qrcode/create calls, want 10 (none for the refused code)", n)
	}
	// The page still shows the last code; another user is not limited.
	if _, tid := alice.bindQR(); tid != last {
		t.Errorf("/bind shows code %s, want the live %s", tid, last)
	}
	bob := app.browser(t)
	bob.signup("bob")
	bob.bindQR()

	// Ten minutes after the first code, one more is allowed.
	app.Clock.Advance(10 * time.Minute)
	if r := alice.post("/bind/refresh", nil, "HX-Request", "true"); r.Status != 200 || !strings.Contains(r.Body, bindQRImg) {
		t.Fatalf("refresh after the window: %d\n%s", r.Status, r.Body)
	}
}

// A GET /bind that needs a new code when the limit is used up says so as
// a page.
func TestBind_PageOverTheLimitExplains(t *testing.T) {
	app := newTestApp(t, func(c *testConfig) { c.Service.BindTTL = time.Minute })
	b := app.browser(t)
	b.signup("alice")
	b.bindQR()
	for range 9 {
		b.post("/bind/refresh", nil, "HX-Request", "true")
	}
	app.Clock.Advance(time.Minute) // every code expired; the window still full
	r := b.get("/bind")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "二维码生成太频繁") || strings.Contains(r.Body, bindQRImg) {
		t.Fatalf("GET /bind over the limit: %d\n%s", r.Status, r.Body)
	}
}
