package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/handlers"
)

const tooMany = "尝试次数过多，请 15 分钟后再试"

// loginAs posts the login form as a browser at client address ip (sent as
// X-Forwarded-For; the test server trusts loopback as its proxy).
func (b *browser) loginAs(ip, name, password string) resp {
	b.t.Helper()
	return b.post("/login", url.Values{"name": {name}, "password": {password}}, "X-Forwarded-For", ip)
}

func behindProxy(c *testConfig) {
	c.TrustedProxies, _ = handlers.ParseTrustedProxies("127.0.0.1, ::1")
}

func TestLogin_FiveFailuresLockTheAccountFor15Minutes(t *testing.T) {
	app := newTestApp(t, behindProxy)
	app.browser(t).signup("alice")
	b := app.browser(t)

	for i := range 5 {
		if r := b.loginAs("198.51.100.1", "alice", "wrong-password"); !loginRefused(r) {
			t.Fatalf("failed login %d: status %d, want 303 back to the form", i+1, r.Status)
		}
	}
	// Now even the right password is refused, from any address, and the
	// name's case does not matter.
	r := b.loginAs("198.51.100.2", "ALICE", "password-alice")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, tooMany) {
		t.Fatalf("6th attempt: status %d, want 429 with %q\n%s", r.Status, tooMany, r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra <= 0 || ra > 900 {
		t.Errorf("Retry-After = %q, want seconds up to 900", r.Header.Get("Retry-After"))
	}
	// Other accounts are not affected.
	app.browser(t).signup("bob")
	if r := b.loginAs("198.51.100.2", "bob", "password-bob"); !loginOK(r) {
		t.Errorf("bob's login while alice is locked: status %d, want 303", r.Status)
	}

	app.Clock.Advance(15 * time.Minute)
	if r := app.browser(t).loginAs("198.51.100.1", "alice", "password-alice"); !loginOK(r) {
		t.Fatalf("login after 15 minutes: status %d, want 303\n%s", r.Status, r.Body)
	}
}

func TestLogin_SuccessResetsTheAccountCount(t *testing.T) {
	app := newTestApp(t, behindProxy)
	app.browser(t).signup("alice")
	b := app.browser(t)
	for round := range 3 {
		ip := fmt.Sprintf("198.51.100.%d", round+1) // keep under the per-address limit
		for i := range 4 {
			if r := b.loginAs(ip, "alice", "wrong"); !loginRefused(r) {
				t.Fatalf("round %d, failure %d: status %d, want 303 back to the form", round, i+1, r.Status)
			}
		}
		if r := app.browser(t).loginAs(ip, "alice", "password-alice"); !loginOK(r) {
			t.Fatalf("round %d: right password after 4 failures: status %d, want 303", round, r.Status)
		}
	}
}

func TestLogin_TenFailuresFromOneAddressBlockIt(t *testing.T) {
	app := newTestApp(t, behindProxy)
	app.browser(t).signup("alice")
	b := app.browser(t)
	// Guessing across many names, 10 failures from one address ...
	for i := range 10 {
		if r := b.loginAs("203.0.113.66", fmt.Sprintf("user%d", i), "guess"); !loginRefused(r) {
			t.Fatalf("failure %d: status %d, want 303 back to the form", i+1, r.Status)
		}
	}
	// ... block that address, for any account,
	if r := b.loginAs("203.0.113.66", "alice", "password-alice"); r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, tooMany) {
		t.Fatalf("11th attempt from the address: status %d, want 429", r.Status)
	}
	// but not another address.
	if r := b.loginAs("198.51.100.1", "alice", "password-alice"); !loginOK(r) {
		t.Fatalf("login from another address: status %d, want 303", r.Status)
	}
	// Minutes are rounded up: 1 s left still says 1 minute.
	app.Clock.Advance(15*time.Minute - time.Second)
	r := b.loginAs("203.0.113.66", "alice", "password-alice")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "请 1 分钟后再试") || r.Header.Get("Retry-After") != "1" {
		t.Errorf("1 s before the window ends: %d, Retry-After %q, want 429, 1, 「请 1 分钟后再试」", r.Status, r.Header.Get("Retry-After"))
	}
}

func TestLogin_SpoofedForwardedForDoesNotEvadeTheLimit(t *testing.T) {
	// No trusted proxies: X-Forwarded-For is the client's own claim.
	app := newTestApp(t)
	app.browser(t).signup("alice")
	b := app.browser(t)
	for i := range 10 {
		b.loginAs(fmt.Sprintf("192.0.2.%d", i), fmt.Sprintf("user%d", i), "guess")
	}
	if r := b.loginAs("192.0.2.200", "alice", "password-alice"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures with a new X-Forwarded-For each: status %d, want 429", r.Status)
	}
}
