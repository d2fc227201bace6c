package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// Signing in, signing up, signing out.

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.currentUser(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	// A fresh install has nobody to sign in: it opens on sign-up, whose
	// first account becomes the admin.
	if first, err := s.App.FirstRun(r.Context()); err != nil {
		return err
	} else if first {
		http.Redirect(w, r, "/signup", http.StatusSeeOther)
		return nil
	}
	open, err := s.App.SignupOpen(r.Context())
	if err != nil {
		return err
	}
	form := views.AuthForm{SignupOpen: open, Next: localPath(r.URL.Query().Get("next"))}
	if f := flashFrom(r).Form; f != nil {
		// A refused login, redirected here: the name typed and why.
		form.Name, form.Error = f.Value("name"), f.Error
	}
	s.render(w, r, http.StatusOK, views.LoginPage(s.page(r, "登录"), form))
	return nil
}

// loginURL is the login page that returns to next after signing in.
func loginURL(next string) string {
	if next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	done, refused := s.loginLimit.reserve(r, name, s.Now())
	if refused != nil {
		open, _ := s.App.SignupOpen(r.Context())
		s.loginTooMany(w, r, views.AuthForm{Name: name, SignupOpen: open, Next: next}, refused)
		return nil
	}
	u, err := s.App.Login(r.Context(), name, password)
	done(err)
	if e := service.AsError(err); err != nil && e.Code == service.EUnauthorized {
		// Back to the form (303), so a reload repeats no attempt.
		s.redirectFlash(w, r, loginURL(next), Flash{Form: &FormFlash{Values: url.Values{"name": {name}}, Error: e.Message}})
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) error {
	open, err := s.App.SignupOpen(r.Context())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !open {
		status = http.StatusForbidden
	}
	first, err := s.App.FirstRun(r.Context())
	if err != nil {
		return err
	}
	form := views.AuthForm{SignupOpen: open, FirstAdmin: first, PasswordRule: service.PasswordRule}
	if f := flashFrom(r).Form; f != nil && open {
		// A refused sign-up, redirected here: the name typed and why.
		form.Name, form.Error = f.Value("name"), f.Error
		for k := range f.Fields {
			form.Invalid = k
		}
	}
	s.render(w, r, status, views.SignupPage(s.page(r, "注册"), form))
	return nil
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	if s.signupThrottled(w, r) {
		return nil
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	u, err := s.App.Signup(r.Context(), name, r.PostFormValue("password"), r.PostFormValue("password2"))
	switch e := service.AsError(err); {
	case err == nil:
	case e.Code == service.EForbidden:
		// Closed meanwhile: the page says so.
		http.Redirect(w, r, "/signup", http.StatusSeeOther)
		return nil
	case e.Code == service.EInvalid || e.Code == service.EConflict:
		// Back to the form (303) with the name and the problem; the
		// passwords are not kept.
		s.redirectFlash(w, r, "/signup", Flash{Form: &FormFlash{Values: url.Values{"name": {name}}, Error: e.Message, Fields: e.Fields}})
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, "/bind", http.StatusSeeOther)
	return nil
}
