package handlers_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https://*.qlogo.cn; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func TestSecurityHeaders_EveryResponse(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	anon := app.browser(t)
	tests := []struct {
		name    string
		b       *browser
		path    string
		noStore bool // a page of a signed-in user
	}{
		// The sandbox's pages may be framed by this site (its simulated
		// phone's browser), by nothing else: TestSecurityHeaders_SandboxFramedOnlyByThisSite.
		{"login page", anon, "/login", false},
		{"404 page", anon, "/nope", false},
		{"static file", anon, "/static/app.css", false},
		{"health", anon, "/healthz", false},
		{"account page", admin, "/", true},
		{"bind page", admin, "/bind", true},
		{"dashboard", admin, "/admin", true},
		{"compose", admin, "/admin/compose", true},
		{"messages", admin, "/admin/messages", true},
		{"templates", admin, "/admin/templates", true},
		{"tokens", admin, "/admin/tokens", true},
		{"a fragment", admin, "/admin/compose/fields?template_id=x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.b.get(tt.path)
			if r.Status >= 500 {
				t.Fatalf("status %d", r.Status)
			}
			if got := r.Header.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("Content-Security-Policy:\n got %q\nwant %q", got, wantCSP)
			}
			for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if got := r.Header.Get("Cache-Control"); tt.noStore && got != "no-store" {
				t.Errorf("Cache-Control = %q on a signed-in page, want no-store", got)
			}
		})
	}
}

func TestSecurityHeaders_SandboxFramedOnlyByThisSite(t *testing.T) {
	app := newTestApp(t)
	r := app.browser(t).get("/sandbox/")
	want := strings.Replace(wantCSP, "frame-ancestors 'none'", "frame-ancestors 'self'", 1)
	if got := r.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("Content-Security-Policy:\n got %q\nwant %q", got, want)
	}
	if got := r.Header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Errorf("X-Frame-Options = %q, want SAMEORIGIN", got)
	}
}

// The follow QR image (WX_FOLLOW_QR_URL) is on another site: its origin,
// and only that, joins img-src.
func TestSecurityHeaders_FollowQRImageIsAllowed(t *testing.T) {
	app := newTestApp(t, func(c *testConfig) { c.FollowQRURL = "https://mmbiz.example.com/qr/follow.jpg?x=1" })
	b := app.browser(t)
	b.signup("alice")
	r := b.get("/bind")
	if !strings.Contains(r.Body, `src="https://mmbiz.example.com/qr/follow.jpg?x=1"`) {
		t.Fatalf("the bind page does not show the follow QR:\n%s", r.Body)
	}
	want := strings.Replace(wantCSP, "img-src 'self' data: https://*.qlogo.cn", "img-src 'self' data: https://*.qlogo.cn https://mmbiz.example.com", 1)
	if got := r.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("Content-Security-Policy:\n got %q\nwant %q", got, want)
	}
}

// inlineCode lists what a Content-Security-Policy without 'unsafe-inline'
// would block in page: inline <script> and <style>, style attributes,
// event handler attributes (onclick=, htmx's hx-on:*, which htmx runs
// with eval) and javascript: URLs.
func inlineCode(page string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return found
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		src := false
		for _, a := range tok.Attr {
			k := strings.ToLower(a.Key)
			switch {
			case k == "src":
				src = true
			case k == "style", strings.HasPrefix(k, "on"), strings.HasPrefix(k, "hx-on"):
				found = append(found, fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val))
			case (k == "href" || k == "action") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:"):
				found = append(found, fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val))
			}
		}
		if tok.Data == "style" || tok.Data == "script" && !src {
			found = append(found, "inline <"+tok.Data+">")
		}
	}
}

// No page carries inline code: the CSP would block it, so it would not
// work, and an injection that slipped past escaping could hide among it.
func TestPages_CarryNoInlineScriptOrStyle(t *testing.T) {
	_, pages := everyPage(t)
	for name, r := range pages {
		if r.Status >= 500 || !strings.Contains(r.Body, "<html") {
			t.Errorf("%s: status %d, not a page", name, r.Status)
			continue
		}
		if found := inlineCode(r.Body); len(found) > 0 {
			t.Errorf("%s carries inline code: %s", name, strings.Join(found, ", "))
		}
	}
	if !strings.Contains(pages["compose"].Body, `data-filter=`) {
		t.Error("the compose page lacks its recipient filter; the check above did not see it")
	}
}
