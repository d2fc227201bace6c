package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

var nextField = regexp.MustCompile(`name="next" value="([^"]*)"`)

// After login the browser goes where next says, but only to a path of this
// site, as a browser reads the Location header: it drops TAB, CR and LF,
// trims leading spaces and reads "\" as "/".
func TestLogin_NextRedirectStaysOnSiteAsBrowsersReadIt(t *testing.T) {
	app := newTestApp(t)
	app.browser(t).signup("alice")
	tests := []struct {
		next string // as the server receives it, once decoded
		want string // the Location after login
	}{
		// The payloads: next=/%09/evil.example and next=/%09%5Cevil.example.
		{"/\t/evil.example", "/"},
		{"/\t\\evil.example", "/"},
		{"/\\\t/evil.example", "/"},
		{"/\r\n/evil.example", "/"},
		{"\t//evil.example", "/"},
		{" //evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/\\\\evil.example", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"https:evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"", "/"},
		{"/\x00/evil.example", "/"},
		// Encoded forms that one more decoding turns into another site.
		{"/%2F%2Fevil.example", "/"},
		{"/%2f/evil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/%0D%0A/evil.example", "/"},
		{"/%5C%5Cevil.example", "/"},
		{"/%zz", "/"},
		// Paths of this site, with their queries, are kept.
		{"/bind", "/bind"},
		{"/admin/messages?page=2", "/admin/messages?page=2"},
		{"/admin?q=%E5%BC%A0", "/admin?q=%E5%BC%A0"},
		{"/admin/messages?q=a%20b&x=%2F%2F", "/admin/messages?q=a%20b&x=%2F%2F"},
		{"/admin/messages/42", "/admin/messages/42"},
		{"/a/%2F%2Fb", "/a/%2F%2Fb"},
	}
	for _, tt := range tests {
		t.Run(url.QueryEscape(tt.next), func(t *testing.T) {
			b := app.browser(t)
			page := b.get("/login?" + url.Values{"next": {tt.next}}.Encode())
			m := nextField.FindStringSubmatch(page.Body)
			if m == nil || html.UnescapeString(m[1]) != tt.want {
				t.Errorf("login page's next field: %q, want %q", m, tt.want)
			}
			r := b.post("/login", url.Values{"name": {"alice"}, "password": {"password-alice"}, "next": {tt.next}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("login: %d\n%s", r.Status, r.Body)
			}
			if loc := r.Header.Get("Location"); loc != tt.want {
				t.Errorf("redirected to %q, want %q", loc, tt.want)
			}
		})
	}
}
