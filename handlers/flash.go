package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A form's POST never answers with a page: it does its work and redirects
// (303 See Other) to a GET page, so reloading that page repeats nothing.
// What the POST has to tell that page — what was done, why nothing was
// done, a refused form's values and problems, or a secret made just now (a
// push URL, an API token) — travels as a Flash. Flashes are kept on the
// server; the browser holds only a random id in a short-lived cookie, so a
// secret appears in no URL, no log and no cookie. The first page load
// after the redirect takes the flash; a reload finds none.

// Flash is what a POST leaves for the page it redirects to.
type Flash struct {
	Notice  string // what was done: shown at the top of the page
	Problem string // what went wrong, when not about one form's input
	// Secret is shown this once on its page: the user who made it, and
	// only them, sees it (SecretFor).
	Secret     string
	SecretName string
	// Form is a refused form: what was typed (never passwords) and why.
	Form *FormFlash

	userID int64 // who made the flash; 0 when signed out
}

// FormFlash is a refused form, shown again filled in.
type FormFlash struct {
	Values url.Values
	Error  string            // about the whole form
	Fields map[string]string // field → problem
}

// Value is a typed value of the refused form, "" without one.
func (f *FormFlash) Value(key string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(key)
}

const (
	flashCookie = "wxpush_flash"
	flashTTL    = 5 * time.Minute // a redirect is followed at once
	flashMax    = 10000           // entries kept at most; the oldest go first
)

type flashEntry struct {
	f       Flash
	expires time.Time
}

// flashStore holds flashes in memory, by id, until taken or expired. A
// restart loses them, which loses at most one page's message.
type flashStore struct {
	mu sync.Mutex
	m  map[string]flashEntry
}

func newFlashStore() *flashStore { return &flashStore{m: map[string]flashEntry{}} }

func (fs *flashStore) put(f Flash, now time.Time) string {
	b := make([]byte, 16)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.m) >= flashMax {
		for k, e := range fs.m {
			if !now.Before(e.expires) {
				delete(fs.m, k)
			}
		}
		for len(fs.m) >= flashMax {
			oldest := ""
			for k, e := range fs.m {
				if oldest == "" || e.expires.Before(fs.m[oldest].expires) {
					oldest = k
				}
			}
			delete(fs.m, oldest)
		}
	}
	fs.m[id] = flashEntry{f: f, expires: now.Add(flashTTL)}
	return id
}

func (fs *flashStore) take(id string, now time.Time) (Flash, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	e, ok := fs.m[id]
	if !ok {
		return Flash{}, false
	}
	delete(fs.m, id)
	if !now.Before(e.expires) {
		return Flash{}, false
	}
	return e.f, true
}

// redirectFlash answers a POST: it keeps f for the next page and sends
// the browser there with 303 See Other.
func (s *Server) redirectFlash(w http.ResponseWriter, r *http.Request, to string, f Flash) {
	if u, ok := userFrom(r.Context()); ok {
		f.userID = u.ID
	}
	id := s.flashes.put(f, s.Now())
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: id, Path: "/", MaxAge: int(flashTTL.Seconds()),
		HttpOnly: true, Secure: s.Config.BaseURL != nil && s.Config.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type flashKey struct{}

// withFlash hands a waiting flash to the next page load — a GET of a page,
// not of a file, a poll or the API — and clears its cookie.
func (s *Server) withFlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(flashCookie)
		if err != nil || r.Method != http.MethodGet || !isPageLoad(r) {
			next.ServeHTTP(w, r)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true,
			Secure: s.Config.BaseURL != nil && s.Config.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
		if f, ok := s.flashes.take(c.Value, s.Now()); ok {
			r = r.WithContext(context.WithValue(r.Context(), flashKey{}, &f))
		}
		next.ServeHTTP(w, r)
	})
}

// isPageLoad: a browser loading a page (htmx's boosted links and forms
// included), not a fragment, a file, the API or the sandbox.
func isPageLoad(r *http.Request) bool {
	if isHTMX(r) && r.Header.Get("HX-Boosted") != "true" {
		return false
	}
	for _, p := range []string{"/static/", "/api/", "/send/", "/sandbox/", "/wechat", "/healthz", "/readyz", "/favicon.ico"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return false
		}
	}
	return true
}

// flashFrom returns the flash this page load took (zero without one). Its
// Secret is kept only for the user who made it.
func flashFrom(r *http.Request) Flash {
	f, ok := r.Context().Value(flashKey{}).(*Flash)
	if !ok {
		return Flash{}
	}
	out := *f
	if u, _ := userFrom(r.Context()); out.Secret != "" && (out.userID == 0 || u.ID != out.userID) {
		out.Secret, out.SecretName = "", ""
	}
	return out
}
