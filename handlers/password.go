package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// Passwords: changing mine (the account page's 修改密码), and the page an
// admin's one-time reset link opens.

// passwordFormStatus: how the change-password form answers each refusal.
var passwordFormStatus = map[service.Code]int{
	service.EInvalid:  http.StatusUnprocessableEntity,
	service.EConflict: http.StatusConflict,
	service.ETooMany:  http.StatusTooManyRequests,
}

// changePasswordPage: GET /account/password, the form alone.
func (s *Server) changePasswordPage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.ChangePasswordPage(s.page(r, "修改密码"), views.PasswordForm{}))
	return nil
}

// changePassword: POST /account/password. Success ends the user's other
// sessions and goes back to the account page; a refusal shows the form
// again with the reason.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	cur, err := s.Sessions.Current(r)
	if err != nil {
		return err
	}
	_, err = s.App.ChangePassword(ctx, u, cur.ID, r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("password2"))
	if e := service.AsError(err); err != nil && passwordFormStatus[e.Code] != 0 {
		s.logError(w, r, err) // sets Retry-After when limited
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, passwordFormStatus[e.Code], views.ChangePasswordPage(s.page(r, "修改密码"), views.PasswordForm{Error: e.Message}))
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=password", http.StatusSeeOther)
	return nil
}

// resetLinkStatus: how the reset page answers a link that does not work.
var resetLinkStatus = map[string]int{
	"reset_invalid":    http.StatusNotFound,
	"reset_used":       http.StatusGone,
	"reset_expired":    http.StatusGone,
	"account_disabled": http.StatusForbidden,
}

// renderReset renders the reset page; the link's token is in it, so no
// cache keeps it.
func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, status int, f views.ResetForm) {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.ResetPasswordPage(s.page(r, "设置新密码"), f))
}

// resetProblem renders why a link does not work, if that is what err says.
func (s *Server) resetProblem(w http.ResponseWriter, r *http.Request, err error) bool {
	e := service.AsError(err)
	status, ok := resetLinkStatus[e.Reason]
	if !ok {
		return false
	}
	s.renderReset(w, r, status, views.ResetForm{Problem: e.Message})
	return true
}

// resetPasswordPage: GET /reset-password?token=…, the link an admin made.
// The token is in the query, which the request log leaves out.
func (s *Server) resetPasswordPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	u, err := s.App.PasswordResetUser(r.Context(), token)
	if err != nil {
		if s.resetProblem(w, r, err) {
			return nil
		}
		return err
	}
	s.renderReset(w, r, http.StatusOK, views.ResetForm{Token: token, Name: u.Name})
	return nil
}

// resetPassword: POST /reset-password sets the new password and ends every
// session of the account; the user then signs in.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	token := r.PostFormValue("token")
	u, err := s.App.ResetPassword(r.Context(), token, r.PostFormValue("password"), r.PostFormValue("password2"))
	if e := service.AsError(err); err != nil && e.Code == service.EInvalid {
		name := ""
		if u, err := s.App.PasswordResetUser(r.Context(), token); err == nil {
			name = u.Name
		}
		s.renderReset(w, r, http.StatusUnprocessableEntity, views.ResetForm{Token: token, Name: name, Error: e.Message})
		return nil
	}
	if err != nil {
		if s.resetProblem(w, r, err) {
			return nil
		}
		return err
	}
	s.logger(r.Context()).Info("password reset by link", "user", u.PublicID)
	s.renderReset(w, r, http.StatusOK, views.ResetForm{Done: true})
	return nil
}
