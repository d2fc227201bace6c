package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/wxpush/wxpush/store"
)

const (
	sessionName    = "wxpush_session"
	sessionUserKey = "uid"
	sessionMaxAge  = 30 * 24 * 3600
)

var errNoSession = errors.New("not signed in")

// NewCookieStore returns the session store. Its signing and encryption keys
// are generated on first start and kept in the database, so sessions
// survive restarts and every instance on the same database agrees.
func NewCookieStore(ctx context.Context, st *store.Store, secure bool) (*sessions.CookieStore, error) {
	keys, err := st.EnsureSetting(ctx, "session_keys", func() []byte {
		b := make([]byte, 64) // 32-byte HMAC key + 32-byte AES-256 key
		rand.Read(b)
		return b
	})
	if err != nil {
		return nil, fmt.Errorf("session keys: %w", err)
	}
	if len(keys) != 64 {
		return nil, fmt.Errorf("session keys: stored value has %d bytes, want 64", len(keys))
	}
	cs := sessions.NewCookieStore(keys[:32], keys[32:])
	for _, c := range cs.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(sessionSerializer{})
		}
	}
	cs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   sessionMaxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(sessionMaxAge)
	return cs, nil
}

// currentUser returns the signed-in user. It decodes the cookie directly
// rather than through the session registry: this runs on every poll.
func (s *Server) currentUser(r *http.Request) (store.User, error) {
	c, err := r.Cookie(sessionName)
	if err != nil {
		return store.User{}, errNoSession
	}
	values := map[any]any{}
	if err := securecookie.DecodeMulti(sessionName, c.Value, &values, s.Sessions.Codecs...); err != nil {
		return store.User{}, errNoSession // expired, tampered with, or from old keys
	}
	id, ok := values[sessionUserKey].(int64)
	if !ok {
		return store.User{}, errNoSession
	}
	return s.Store.UserByID(r.Context(), id)
}

// sessionSerializer encodes session values as "key=int" lines. Sessions
// only ever hold the user id, and gob (securecookie's default) spends most
// of a poll's CPU rebuilding its type information for every cookie.
type sessionSerializer struct{}

func (sessionSerializer) Serialize(src any) ([]byte, error) {
	m, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("session: cannot serialize %T", src)
	}
	var b []byte
	for k, v := range m {
		ks, ok1 := k.(string)
		vi, ok2 := v.(int64)
		if !ok1 || !ok2 || strings.ContainsAny(ks, "=\n") {
			return nil, fmt.Errorf("session: only string keys with int64 values are stored, got %T=%T", k, v)
		}
		b = append(b, ks...)
		b = append(b, '=')
		b = strconv.AppendInt(b, vi, 10)
		b = append(b, '\n')
	}
	return b, nil
}

func (sessionSerializer) Deserialize(src []byte, dst any) error {
	m, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("session: cannot deserialize into %T", dst)
	}
	if *m == nil {
		*m = map[any]any{}
	}
	for _, line := range strings.Split(string(src), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("session: bad value %q", line)
		}
		(*m)[k] = n
	}
	return nil
}

// startSession signs the user in on this browser.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	sess, _ := s.Sessions.Get(r, sessionName)
	sess.Values = map[any]any{sessionUserKey: u.ID}
	sess.Options.MaxAge = sessionMaxAge
	return sess.Save(r, w)
}

// endSession signs the browser out.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	sess, _ := s.Sessions.Get(r, sessionName)
	sess.Values = map[any]any{}
	opts := *s.Sessions.Options
	opts.MaxAge = -1
	sess.Options = &opts
	return sess.Save(r, w)
}
