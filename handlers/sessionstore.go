package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/wxpush/wxpush/store"
)

// SessionStore is a gorilla/sessions Store that keeps sessions in the
// database: the cookie holds only a random token (its SHA-256 is the row's
// key), so ending a session — signing out, 「退出其他设备」 — makes every
// copy of its cookie worthless at once. A session holds one value, the
// user id under "uid" (int64).
type SessionStore struct {
	Store   *store.Store
	Options *sessions.Options // cookie attributes; MaxAge is the sessions' lifetime
}

var _ sessions.Store = (*SessionStore)(nil)

// NewSessionStore returns the session store; secure marks the cookie
// Secure (an https base URL).
func NewSessionStore(st *store.Store, secure bool) *SessionStore {
	return &SessionStore{Store: st, Options: &sessions.Options{
		Path:     "/",
		MaxAge:   int(store.SessionLifetime.Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}}
}

// Get returns the named session of the request, loading it once per request.
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session the request's cookie names. Without a cookie, or
// with one that names no live session, it returns a new empty session
// (IsNew) and no error; an error means the database failed.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.Options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	se, err := s.Store.AuthenticateSession(r.Context(), c.Value, ClientIP(r))
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	sess.ID, sess.IsNew = c.Value, false
	sess.Values[sessionUserKey] = se.UserID
	return sess, nil
}

// Save writes the session's cookie. A negative MaxAge ends the session
// (the row is deleted) and clears the cookie. A session whose user id
// changed — or that has no row yet — gets a new token: an id handed out
// before sign-in never becomes a signed-in one (session fixation).
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.Store.EndSession(ctx, sess.ID); err != nil {
				return err
			}
			sess.ID = ""
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	uid, ok := sess.Values[sessionUserKey].(int64)
	if !ok || uid <= 0 || len(sess.Values) != 1 {
		return fmt.Errorf("session: only a user id (int64 under %q) is stored, got %v", sessionUserKey, sess.Values)
	}
	if sess.ID != "" {
		se, err := s.Store.AuthenticateSession(ctx, sess.ID, ClientIP(r))
		switch {
		case err == nil && se.UserID == uid:
			http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
			return nil
		case err == nil:
			if err := s.Store.EndSession(ctx, sess.ID); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	token, _, err := s.Store.CreateSession(ctx, uid, ClientIP(r), r.UserAgent())
	if errors.Is(err, store.ErrUserDisabled) {
		// Disabled by an admin since the password was checked.
		return errorf(http.StatusForbidden, "账号已停用", "这个账号已被管理员停用，无法登录。")
	}
	if err != nil {
		return err
	}
	sess.ID, sess.IsNew = token, false
	http.SetCookie(w, sessions.NewCookie(sess.Name(), token, sess.Options))
	return nil
}

// Current returns the live session of the request's cookie, or
// errNoSession. It goes to the store directly, not through the per-request
// registry: every poll runs it.
func (s *SessionStore) Current(r *http.Request) (store.Session, error) {
	c, err := r.Cookie(sessionName)
	if err != nil {
		return store.Session{}, errNoSession
	}
	se, err := s.Store.AuthenticateSession(r.Context(), c.Value, ClientIP(r))
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, errNoSession
	}
	return se, err
}
