package handlers

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

const settingSignupOpen = "signup_open"

// signupOpen reports whether new accounts may sign up. The very first
// account can always sign up: it becomes the admin.
func (s *Server) signupOpen(ctx context.Context) (bool, error) {
	v, err := s.Store.Setting(ctx, settingSignupOpen)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if string(v) == "1" {
		return true, nil
	}
	n, err := s.Store.CountUsers(ctx)
	return n == 0, err
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.currentUser(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	open, err := s.signupOpen(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.LoginPage(s.page(r, "登录"),
		views.AuthForm{SignupOpen: open, Next: localPath(r.URL.Query().Get("next"))}))
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	done, refused := s.loginLimit.reserve(r, name, s.Now())
	if refused != nil {
		open, _ := s.signupOpen(r.Context())
		s.loginTooMany(w, r, views.AuthForm{Name: name, SignupOpen: open, Next: next}, refused)
		return nil
	}
	u, err := s.Store.Authenticate(r.Context(), name, password)
	done(err)
	if errors.Is(err, store.ErrBadCredentials) {
		open, _ := s.signupOpen(r.Context())
		s.render(w, r, http.StatusUnauthorized, views.LoginPage(s.page(r, "登录"),
			views.AuthForm{Name: name, Error: "用户名或密码错误。", SignupOpen: open, Next: next}))
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.logger(r.Context()).Info("login", "user", u.PublicID)
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
	open, err := s.signupOpen(r.Context())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !open {
		status = http.StatusForbidden
	}
	s.render(w, r, status, views.SignupPage(s.page(r, "注册"), views.AuthForm{SignupOpen: open}))
	return nil
}

var validName = regexp.MustCompile(`^[\p{Han}A-Za-z0-9_.\-]{2,32}$`)

// CheckSignup validates a new account's name and password and returns
// the message to show, or "" when they are acceptable.
func CheckSignup(name, password, password2 string) string {
	switch {
	case name == "":
		return "请填写用户名。"
	case !validName.MatchString(name):
		return "用户名需为 2–32 个字符，只能包含字母、数字、汉字、下划线、点或短横线。"
	case utf8.RuneCountInString(password) < 8:
		return "密码至少需要 8 个字符。"
	case len(password) > 72:
		return "密码太长（最多 72 字节）。"
	case password != password2:
		return "两次输入的密码不一致。"
	}
	return ""
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	if s.signupThrottled(w, r) {
		return nil
	}
	ctx := r.Context()
	open, err := s.signupOpen(ctx)
	if err != nil {
		return err
	}
	if !open {
		s.render(w, r, http.StatusForbidden, views.SignupPage(s.page(r, "注册"), views.AuthForm{}))
		return nil
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	form := views.AuthForm{Name: name, SignupOpen: true}
	if msg := CheckSignup(name, password, r.PostFormValue("password2")); msg != "" {
		form.Error = msg
		s.render(w, r, http.StatusUnprocessableEntity, views.SignupPage(s.page(r, "注册"), form))
		return nil
	}
	u, err := s.Store.CreateUser(ctx, name, password, false, true)
	if errors.Is(err, store.ErrConflict) {
		form.Error = "用户名「" + name + "」已被占用，请换一个。"
		s.render(w, r, http.StatusConflict, views.SignupPage(s.page(r, "注册"), form))
		return nil
	}
	if err != nil {
		return err
	}
	s.logger(ctx).Info("signup", "user", u.PublicID, "admin", u.IsAdmin)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, "/bind", http.StatusSeeOther)
	return nil
}
