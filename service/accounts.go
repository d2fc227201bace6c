package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
)

const settingSignupOpen = "signup_open"

var validName = regexp.MustCompile(`^[\p{Han}A-Za-z0-9_.\-]{2,32}$`)

// CheckSignup validates a new account's name and password and returns
// the message to show, or "" when they are acceptable.
func CheckSignup(name, password, password2 string) string {
	_, msg := checkSignup(name, password, password2)
	return msg
}

// checkSignup is CheckSignup that also names the field at fault: name,
// password or password2.
func checkSignup(name, password, password2 string) (field, msg string) {
	switch {
	case name == "":
		return "name", "请填写用户名。"
	case !validName.MatchString(name):
		return "name", "用户名需为 2–32 个字符，只能包含字母、数字、汉字、下划线、点或短横线。"
	}
	return checkPassword(password, password2)
}

// CheckPassword validates a new password and its repetition — sign-up's
// rule, also for changing and resetting a password — and returns the
// message to show, or "" when acceptable.
func CheckPassword(password, password2 string) string {
	_, msg := checkPassword(password, password2)
	return msg
}

// checkPassword is CheckPassword that also names the field at fault:
// password or password2.
func checkPassword(password, password2 string) (field, msg string) {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return "password", fmt.Sprintf("密码至少需要 %d 个字符。", MinPasswordChars)
	case len(password) > MaxPasswordBytes:
		return "password", fmt.Sprintf("密码太长（最多 %d 字节）。", MaxPasswordBytes)
	case password != password2:
		return "password2", "两次输入的密码不一致。"
	}
	return "", ""
}

// SignupOpen reports whether new accounts may sign up. The very first
// account can always sign up: it becomes the admin.
func (s *Service) SignupOpen(ctx context.Context) (bool, error) {
	v, err := s.store.Setting(ctx, settingSignupOpen)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if string(v) == "1" {
		return true, nil
	}
	n, err := s.store.CountUsers(ctx)
	return n == 0, err
}

// SetSignupOpen opens or closes public sign-up.
func (s *Service) SetSignupOpen(ctx context.Context, by Actor, open bool) error {
	v := map[bool]string{false: "0", true: "1"}[open]
	if err := s.store.SetSetting(ctx, settingSignupOpen, []byte(v)); err != nil {
		return err
	}
	s.audit(ctx, by, "signup.toggle", map[bool]string{false: "关闭注册", true: "开放注册"}[open], "")
	return nil
}

// Signup creates an account through the public form: only while sign-up
// is open (EForbidden otherwise); the first account becomes the admin.
func (s *Service) Signup(ctx context.Context, name, password, password2 string) (store.User, error) {
	open, err := s.SignupOpen(ctx)
	if err != nil {
		return store.User{}, err
	}
	if !open {
		return store.User{}, &Error{Code: EForbidden, Reason: "signup_closed", Message: "本站已关闭注册，请联系管理员。"}
	}
	u, err := s.createUser(ctx, strings.TrimSpace(name), password, password2, false, true)
	if err == nil {
		s.log.Info("signup", "user", u.PublicID, "admin", u.IsAdmin)
	}
	return u, err
}

// CreateUser adds an account from the command line; admin makes it an admin.
func (s *Service) CreateUser(ctx context.Context, name, password string, admin bool) (store.User, error) {
	return s.createUser(ctx, name, password, password, admin, false)
}

func (s *Service) createUser(ctx context.Context, name, password, password2 string, admin, firstIsAdmin bool) (store.User, error) {
	if field, msg := checkSignup(name, password, password2); msg != "" {
		return store.User{}, &Error{Code: EInvalid, Message: msg, Fields: map[string]string{field: msg}}
	}
	u, err := s.store.CreateUser(ctx, name, password, admin, firstIsAdmin)
	if errors.Is(err, store.ErrConflict) {
		msg := "用户名「" + name + "」已被占用，请换一个。"
		return u, &Error{Code: EConflict, Reason: "name_taken", Message: msg, Fields: map[string]string{"name": msg}}
	}
	return u, err
}

// Login checks a name and password: EUnauthorized when they do not match,
// or — reason "account_disabled", told only to whoever knows the password
// — when an admin disabled the account.
func (s *Service) Login(ctx context.Context, name, password string) (store.User, error) {
	u, err := s.store.Authenticate(ctx, strings.TrimSpace(name), password)
	if errors.Is(err, store.ErrBadCredentials) {
		return u, &Error{Code: EUnauthorized, Message: "用户名或密码错误。", Err: err}
	}
	if err != nil {
		return u, err
	}
	if u.Disabled() {
		s.log.Info("login refused: account disabled", "user", u.PublicID)
		return store.User{}, &Error{Code: EUnauthorized, Reason: "account_disabled", Message: "这个账号已被管理员停用，无法登录。如有疑问，请联系网站管理员。"}
	}
	s.log.Info("login", "user", u.PublicID)
	return u, nil
}

// maxTokenName bounds an API token's name, in characters.
const maxTokenName = 64

// CreateAPIToken makes an admin API token and returns it (shown once; only
// its hash is kept).
func (s *Service) CreateAPIToken(ctx context.Context, by Actor, name string) (string, store.APIToken, error) {
	return s.CreateScopedAPIToken(ctx, by, name, store.AllScopes)
}

// CreateScopedAPIToken is CreateAPIToken for a token limited to scopes
// (at least one of store.AllScopes; see scopes.go).
func (s *Service) CreateScopedAPIToken(ctx context.Context, by Actor, name string, scopes []string) (string, store.APIToken, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", store.APIToken{}, &Error{Code: EInvalid, Message: "请填写令牌名称，例如它的用途：CI、监控告警。", Fields: map[string]string{"name": "请填写令牌名称。"}}
	case utf8.RuneCountInString(name) > maxTokenName:
		msg := fmt.Sprintf("名称最多 %d 个字符。", maxTokenName)
		return "", store.APIToken{}, &Error{Code: EInvalid, Message: msg, Fields: map[string]string{"name": msg}}
	}
	scopes, err := CheckScopes(scopes)
	if err != nil {
		return "", store.APIToken{}, err
	}
	token, t, err := s.store.CreateScopedAPIToken(ctx, name, by.UserID, scopes)
	if err != nil {
		return "", t, err
	}
	s.audit(ctx, by, "token.create", fmt.Sprintf("API 令牌「%s」", t.Name), t.Prefix+"… "+strings.Join(t.Scopes, " "))
	s.log.Info("api token created", "token", t.ID, "by", by.Name)
	return token, t, nil
}

// RevokeAPIToken revokes a token (revoking twice is not an error).
func (s *Service) RevokeAPIToken(ctx context.Context, by Actor, id string) error {
	notFound := &Error{Code: ENotFound, Message: "没有这个 API 令牌。"}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return notFound
	}
	t, err := s.store.APIToken(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil || t.Revoked() {
		return err
	}
	if err := s.store.RevokeAPIToken(ctx, n); err != nil {
		return err
	}
	s.audit(ctx, by, "token.revoke", fmt.Sprintf("API 令牌「%s」", t.Name), t.Prefix+"…")
	s.log.Info("api token revoked", "token", t.ID, "by", by.Name)
	return nil
}

// AuthenticateAPIToken checks a bearer token: EUnauthorized when it is
// unknown or revoked.
func (s *Service) AuthenticateAPIToken(ctx context.Context, token string) (store.APIToken, error) {
	t, err := s.store.AuthenticateAPIToken(ctx, token)
	switch {
	case errors.Is(err, store.ErrRevoked):
		return t, &Error{Code: EUnauthorized, Reason: "unauthorized", Message: "这个 API 令牌已被吊销。"}
	case errors.Is(err, store.ErrNotFound):
		return t, &Error{Code: EUnauthorized, Reason: "unauthorized", Message: "API 令牌无效。"}
	}
	return t, err
}
