package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

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

// currentUser returns the signed-in user.
func (s *Server) currentUser(r *http.Request) (store.User, error) {
	sess, _ := s.Sessions.Get(r, sessionName) // a bad cookie yields a new, empty session
	id, ok := sess.Values[sessionUserKey].(int64)
	if !ok {
		return store.User{}, errNoSession
	}
	return s.Store.UserByID(r.Context(), id)
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
