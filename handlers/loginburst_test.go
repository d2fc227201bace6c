package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// holdPasswordChecks makes every password check of app wait until release
// is closed; each check that starts is reported on the returned channel.
func holdPasswordChecks(app *testApp) (entered <-chan string, release chan struct{}) {
	in := make(chan string, 1000)
	release = make(chan struct{})
	app.Store.SetAuthenticateHook(func(name string) {
		in <- name
		<-release
	})
	return in, release
}

type burstResult struct {
	status     int
	retryAfter string
	body       string
}

// burst sends n logins at once, the i-th from address ip(i) as name(i)
// with a wrong password, and holds every password check until each login
// is either in its password check or answered. So no check finishes (and
// no failure is counted) before the whole burst has been let in or turned
// away: the order an attacker's burst gets on a busy server.
func burst(t *testing.T, app *testApp, n int, ip, name func(i int) string) (checked map[string]int, results []burstResult) {
	t.Helper()
	entered, release := holdPasswordChecks(app)
	answered := make(chan burstResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"name": {name(i)}, "password": {"wrong-guess"}}
			req, _ := http.NewRequest("POST", app.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("X-Forwarded-For", ip(i))
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Error(err)
				answered <- burstResult{}
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			answered <- burstResult{res.StatusCode, res.Header.Get("Retry-After"), string(body)}
		}()
	}
	var early []burstResult
	checked = map[string]int{}
	for in := 0; in+len(early) < n; {
		select {
		case name := <-entered:
			checked[name]++
			in++
		case r := <-answered:
			early = append(early, r)
		}
	}
	close(release)
	wg.Wait()
	close(answered)
	results = early
	for r := range answered {
		results = append(results, r)
	}
	return checked, results
}

// noRedirects shows each answer as it is: a refused login is 303 back to
// the form.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func statuses(rs []burstResult) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.status]++
	}
	return m
}

// A burst of guesses sent at once gets no more password checks than the
// limits allow: each attempt is counted before its check, not after.
func TestLogin_BurstGetsNoMorePasswordChecksThanTheLimit(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		ip      func(i int) string
		account func(i int) string
		allowed int
	}{
		{"40 at one account", 40, func(int) string { return "198.51.100.7" }, func(int) string { return "alice" }, 5},
		{"100 at one account", 100, func(int) string { return "198.51.100.7" }, func(int) string { return "alice" }, 5},
		{"100 at one account from 100 addresses", 100,
			func(i int) string { return fmt.Sprintf("203.0.113.%d", i) }, func(int) string { return "ALICE" }, 5},
		{"100 at 100 accounts from one address", 100,
			func(int) string { return "198.51.100.7" }, func(i int) string { return fmt.Sprintf("user%02d", i) }, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Enough concurrent checks that only the failure limits matter.
			app := newTestApp(t, behindProxy, func(c *testConfig) { c.LoginConcurrency = 200 })
			app.browser(t).signup("alice")
			for i := range 100 {
				if _, err := app.Store.CreateUser(t.Context(), fmt.Sprintf("user%02d", i), "password-x", false, false); err != nil {
					t.Fatal(err)
				}
			}
			names, results := burst(t, app, tt.n, tt.ip, tt.account)
			checked := 0
			for _, k := range names {
				checked += k
			}
			if checked != tt.allowed {
				t.Errorf("%d of %d guesses reached the password check, want %d", checked, tt.n, tt.allowed)
			}
			got := statuses(results)
			if got[http.StatusSeeOther] != checked || got[http.StatusTooManyRequests] != tt.n-checked {
				t.Errorf("answers %v, want %d × 303 (refused, back to the form) and %d × 429", got, checked, tt.n-checked)
			}
			for _, r := range results {
				if r.status != http.StatusTooManyRequests {
					continue
				}
				if ra, err := strconv.Atoi(r.retryAfter); err != nil || ra <= 0 || ra > 900 || !strings.Contains(r.body, tooMany) {
					t.Fatalf("429 with Retry-After %q, want seconds up to 900 and %q", r.retryAfter, tooMany)
				}
			}
		})
	}
}

// However many addresses and accounts a flood uses, only LoginConcurrency
// password checks run at once; a login that finds none free within
// LoginQueueWait is turned away with 503 and Retry-After, and that does
// not count as a failure.
func TestLogin_PasswordChecksRunAFewAtATime(t *testing.T) {
	app := newTestApp(t, behindProxy, func(c *testConfig) {
		c.LoginConcurrency = 2
		c.LoginQueueWait = 50e6 // 50 ms: the two held checks never free up
	})
	for i := range 6 {
		if _, err := app.Store.CreateUser(t.Context(), fmt.Sprintf("user%d", i), "password-x", false, false); err != nil {
			t.Fatal(err)
		}
	}
	ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", i) }
	checked, results := burst(t, app, 6, ip, func(i int) string { return fmt.Sprintf("user%d", i) })
	if len(checked) != 2 {
		t.Errorf("%d password checks ran at once (%v), want 2", len(checked), checked)
	}
	got := statuses(results)
	if got[http.StatusSeeOther] != 2 || got[http.StatusServiceUnavailable] != 4 {
		t.Fatalf("answers %v, want 2 × 303 (refused, back to the form) and 4 × 503", got)
	}
	for _, r := range results {
		if r.status == http.StatusServiceUnavailable && (r.retryAfter != "5" || !strings.Contains(r.body, "服务器正忙")) {
			t.Errorf("503 with Retry-After %q, want 5 and 「服务器正忙」\n%s", r.retryAfter, r.body)
		}
	}
	// A login turned away as busy was not a failure: four failures more
	// lock none of those accounts (the fifth attempt is the right one).
	app.Store.SetAuthenticateHook(nil)
	for i := range 6 {
		name := fmt.Sprintf("user%d", i)
		for range 4 - checked[name] {
			app.browser(t).loginAs(ip(i), name, "wrong")
		}
		if r := app.browser(t).loginAs(ip(i), name, "password-x"); r.Status != http.StatusSeeOther {
			t.Errorf("%s after the flood: %d, want 303", name, r.Status)
		}
	}
}
