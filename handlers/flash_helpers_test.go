package handlers_test

import (
	"net/http"
	"strings"
)

// follow loads the page a POST redirected to (303), as a browser does,
// and returns it; the POST must have redirected.
func (b *browser) follow(r resp) resp {
	b.t.Helper()
	if r.Status != http.StatusSeeOther {
		b.t.Fatalf("want 303 See Other, got %d\n%s", r.Status, r.Body)
	}
	return b.get(r.Header.Get("Location"))
}

// loginRefused: a login refused for its credentials answers 303 back to
// the login form; loginOK: a login that signed in answers 303 elsewhere.
func loginRefused(r resp) bool {
	return r.Status == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/login")
}

func loginOK(r resp) bool {
	return r.Status == http.StatusSeeOther && !strings.HasPrefix(r.Header.Get("Location"), "/login")
}
