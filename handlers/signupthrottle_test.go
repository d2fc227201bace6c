package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const signupTooMany = "注册尝试过于频繁，请 15 分钟后再试"

// Sign-up answers 409 for a taken name, so it must not let one address try
// names without end: every sign-up POST counts, 10 per 15 minutes.
func TestSignup_TenAttemptsFromOneAddressPer15Minutes(t *testing.T) {
	app := newTestApp(t, behindProxy)
	app.browser(t).signup("alice") // from 127.0.0.1, another address
	b := app.browser(t)
	signup := func(ip, name string) resp {
		return b.post("/signup", url.Values{"name": {name}, "password": {"password-1"}, "password2": {"password-1"}},
			"X-Forwarded-For", ip)
	}
	for i := range 10 {
		want, name := "/signup", "alice" // probing a taken name: refused, back to the form
		switch i % 3 {
		case 1:
			want, name = "/signup", "a" // invalid
		case 2:
			want, name = "/bind", fmt.Sprintf("new%d", i) // a real sign-up counts too
		}
		if r := signup("198.51.100.1", name); r.Status != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Fatalf("attempt %d (%s): status %d to %q, want 303 to %s\n%s", i+1, name, r.Status, r.Header.Get("Location"), want, r.Body)
		}
	}
	r := signup("198.51.100.1", "alice")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, signupTooMany) {
		t.Fatalf("11th attempt: status %d, want 429 with %q\n%s", r.Status, signupTooMany, r.Body)
	}
	if strings.Contains(r.Body, "已被占用") {
		t.Error("the throttled answer still tells whether the name is taken")
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra <= 0 || ra > 900 {
		t.Errorf("Retry-After = %q, want seconds up to 900", r.Header.Get("Retry-After"))
	}
	if r := signup("198.51.100.1", "carol"); r.Status != http.StatusTooManyRequests {
		t.Errorf("a new name from the throttled address: %d, want 429", r.Status)
	}
	if _, err := app.Store.UserByName(t.Context(), "carol"); err == nil {
		t.Error("a throttled sign-up created the account")
	}
	// Another address is not affected.
	if r := signup("198.51.100.2", "dave"); r.Status != http.StatusSeeOther {
		t.Errorf("sign-up from another address: %d, want 303", r.Status)
	}
	app.Clock.Advance(15 * time.Minute)
	if r := signup("198.51.100.1", "carol"); r.Status != http.StatusSeeOther {
		t.Errorf("sign-up 15 minutes later: %d, want 303\n%s", r.Status, r.Body)
	}
}
