package service

import "context"

// FirstRun reports whether no account exists yet: a fresh install, where
// nobody can sign in and the first sign-up becomes the admin.
func (s *Service) FirstRun(ctx context.Context) (bool, error) {
	n, err := s.store.CountUsers(ctx)
	return n == 0, err
}

// The password rule of sign-up, stated once: CheckSignup enforces it and
// the sign-up form shows PasswordRule before anything is typed.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 72 // bcrypt reads no further
	PasswordRule     = "至少 8 个字符，最多 72 字节；字母、数字、符号和汉字都可以。"
)
