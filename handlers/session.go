package handlers

import (
	"errors"
	"net/http"

	"github.com/wxpush/wxpush/store"
)

const (
	sessionName    = "wxpush_session"
	sessionUserKey = "uid"
)

var errNoSession = errors.New("not signed in")

// currentUser returns the signed-in user.
func (s *Server) currentUser(r *http.Request) (store.User, error) {
	se, err := s.Sessions.Current(r)
	if err != nil {
		return store.User{}, err
	}
	return s.Store.UserByID(r.Context(), se.UserID)
}

// startSession signs the user in on this browser, in a new session: the
// one the browser had, if any, ends.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	sess, err := s.Sessions.Get(r, sessionName)
	if err != nil {
		return err
	}
	if !sess.IsNew {
		if err := s.Store.EndSession(r.Context(), sess.ID); err != nil {
			return err
		}
	}
	sess.ID = ""
	sess.Values = map[any]any{sessionUserKey: u.ID}
	return sess.Save(r, w)
}

// endSession signs the browser out: its session ends for every copy of
// the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.Sessions.Get(r, sessionName)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	return sess.Save(r, w)
}
