package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Accounts as their owners and admins manage them: changing a password,
// reset links, disabling, deleting, admin rights, unbinding from WeChat.

// PasswordResetTTL is how long an admin's reset link works.
const PasswordResetTTL = time.Hour

// Notes written on a user's deliveries that were still waiting when the
// account was disabled or deleted (they fail, and are not retried).
const (
	noteDisabled = "收件人账号已停用，未发送。"
	noteDeleted  = "收件人账号已删除，未发送。"
)

// Password changes: 5 attempts at once, then one every 3 minutes, per
// user. Each attempt costs a bcrypt comparison, and a stolen session must
// not be a way to guess the current password.
const (
	passwordAttemptsBurst = 5
	passwordAttemptEvery  = 3 * time.Minute
)

// attempts limits attempts per user (golang.org/x/time/rate on the
// service's clock). Entries are never dropped: at most one per user who
// tried.
type attempts struct {
	mu    sync.Mutex
	users map[int64]*rate.Limiter
}

// take spends one attempt of the user's at now; when none is left it
// returns false and when the next one comes.
func (a *attempts) take(userID int64, now time.Time) (bool, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users == nil {
		a.users = map[int64]*rate.Limiter{}
	}
	l, ok := a.users[userID]
	if !ok {
		l = rate.NewLimiter(rate.Every(passwordAttemptEvery), passwordAttemptsBurst)
		a.users[userID] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, now.Add(d)
	}
	return true, time.Time{}
}

// ChangePassword sets the user's new password after checking the current
// one, and ends every other session of theirs (keepSession is the one
// asking); it returns how many it ended. Field errors are "current" and
// "password"; too many attempts are ETooMany.
func (s *Service) ChangePassword(ctx context.Context, u store.User, keepSession int64, current, next, repeat string) (int64, error) {
	invalid := func(field, msg string) error {
		return &Error{Code: EInvalid, Message: msg, Fields: map[string]string{field: msg}}
	}
	if current == "" {
		return 0, invalid("current", "请填写当前密码。")
	}
	if msg := CheckPassword(next, repeat); msg != "" {
		return 0, invalid("password", msg)
	}
	if next == current {
		return 0, invalid("password", "新密码不能与当前密码相同。")
	}
	if ok, at := s.pwAttempts.take(u.ID, s.now()); !ok {
		return 0, &Error{Code: ETooMany, RetryAt: at,
			Message: fmt.Sprintf("尝试次数过多，请 %d 分钟后再试。", int(math.Ceil(at.Sub(s.now()).Minutes())))}
	}
	ended, err := s.store.ChangePassword(ctx, u.ID, current, next, keepSession)
	switch {
	case errors.Is(err, store.ErrBadCredentials):
		return 0, &Error{Code: EInvalid, Reason: "wrong_password", Message: "当前密码不正确。", Fields: map[string]string{"current": "当前密码不正确。"}}
	case errors.Is(err, store.ErrConflict):
		return 0, &Error{Code: EConflict, Message: "密码刚刚被修改过（另一个页面或重置链接），请重新输入当前密码。"}
	case err != nil:
		return 0, accountError(err)
	}
	s.audit(ctx, UserActor(u), "password.change", userTarget(u), fmt.Sprintf("退出了其他 %d 个设备", ended))
	s.log.Info("password changed", "user", u.PublicID, "sessions_ended", ended)
	return ended, nil
}

// accountError words the store's refusals of account changes.
func accountError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: ENotFound, Message: "没有这个用户。"}
	case errors.Is(err, store.ErrLastAdmin):
		return &Error{Code: EConflict, Reason: "last_admin", Message: "至少要保留一位启用中的管理员：不能取消、停用或删除最后一位管理员。"}
	case errors.Is(err, store.ErrNotAdmin):
		return &Error{Code: EForbidden, Reason: "not_admin", Message: "你已不是启用中的管理员，无法进行此操作。"}
	case errors.Is(err, store.ErrUserDisabled):
		return &Error{Code: EConflict, Reason: "user_disabled", Message: "这个账号已停用，请先启用。"}
	}
	return err
}

func userTarget(u store.User) string { return fmt.Sprintf("用户「%s」", u.Name) }

// User returns the user with that public id; ENotFound when there is none.
func (s *Service) User(ctx context.Context, publicID string) (store.User, error) {
	u, err := s.store.UserByPublicID(ctx, publicID)
	if err != nil {
		return u, accountError(err)
	}
	return u, nil
}

// target reads the user an admin acts on, then runs the test hook.
func (s *Service) target(ctx context.Context, publicID string) (store.User, error) {
	u, err := s.User(ctx, publicID)
	if err == nil && s.beforeAccountChange != nil {
		s.beforeAccountChange()
	}
	return u, err
}

// CreatePasswordResetLink makes a one-time link for the user to set a new
// password, valid PasswordResetTTL, replacing any earlier one. The link is
// returned this once: only its hash is kept.
func (s *Service) CreatePasswordResetLink(ctx context.Context, by Actor, publicID string) (string, time.Time, error) {
	u, err := s.target(ctx, publicID)
	if err != nil {
		return "", time.Time{}, err
	}
	token, p, err := s.store.CreatePasswordReset(ctx, by.UserID, u.ID, PasswordResetTTL)
	if err != nil {
		return "", time.Time{}, accountError(err)
	}
	link := s.cfg.BaseURL.JoinPath("/reset-password").String() + "?token=" + token
	s.audit(ctx, by, "password.reset_link", userTarget(u), "有效期至 "+p.ExpiresAt.In(beijing).Format("2006-01-02 15:04"))
	s.log.Info("password reset link created", "user", u.PublicID, "by", by.Name)
	return link, p.ExpiresAt, nil
}

// resetLinkError words why a reset link does not work.
func resetLinkError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: ENotFound, Reason: "reset_invalid", Message: "这个重置密码链接无效，或已被新的链接取代。请向管理员索取新的链接。"}
	case errors.Is(err, store.ErrTokenUsed):
		return &Error{Code: EConflict, Reason: "reset_used", Message: "这个重置密码链接已经用过了，每个链接只能使用一次。"}
	case errors.Is(err, store.ErrTokenExpired):
		return &Error{Code: EConflict, Reason: "reset_expired", Message: "这个重置密码链接已过期（有效期 1 小时）。请向管理员索取新的链接。"}
	case errors.Is(err, store.ErrUserDisabled):
		return &Error{Code: EForbidden, Reason: "account_disabled", Message: "这个账号已被管理员停用。"}
	}
	return err
}

// PasswordResetUser returns whose password a reset link sets, if the link
// still works (the link's page asks before showing its form).
func (s *Service) PasswordResetUser(ctx context.Context, token string) (store.User, error) {
	p, err := s.store.PasswordResetByToken(ctx, token)
	if err != nil {
		return store.User{}, resetLinkError(err)
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return u, resetLinkError(err)
	}
	if u.Disabled() {
		return u, resetLinkError(store.ErrUserDisabled)
	}
	return u, nil
}

// ResetPassword spends a reset link: the user's password becomes next and
// every session of theirs ends. Field errors are "password".
func (s *Service) ResetPassword(ctx context.Context, token, next, repeat string) (store.User, error) {
	if _, err := s.PasswordResetUser(ctx, token); err != nil {
		return store.User{}, err
	}
	if msg := CheckPassword(next, repeat); msg != "" {
		return store.User{}, &Error{Code: EInvalid, Message: msg, Fields: map[string]string{"password": msg}}
	}
	u, err := s.store.ResetPassword(ctx, token, next)
	if err != nil {
		return u, resetLinkError(err)
	}
	s.audit(ctx, Actor{UserID: u.ID, Name: u.Name, Via: "reset"}, "password.reset", userTarget(u), "通过管理员的重置链接设置新密码，所有设备已退出")
	s.log.Info("password reset", "user", u.PublicID)
	return u, nil
}

// SetUserDisabled disables or enables an account. Disabling ends its
// sessions, revokes its push key and reset link and fails its waiting
// deliveries; it no longer signs in or receives. An admin cannot disable
// themself, nor the last enabled admin.
func (s *Service) SetUserDisabled(ctx context.Context, by Actor, publicID string, disabled bool) (store.User, error) {
	u, err := s.target(ctx, publicID)
	if err != nil {
		return u, err
	}
	if disabled && u.ID == by.UserID {
		return u, &Error{Code: EForbidden, Reason: "self", Message: "不能停用自己的账号。"}
	}
	u, changed, err := s.store.SetDisabled(ctx, by.UserID, u.ID, disabled, noteDisabled)
	if err != nil {
		return u, accountError(err)
	}
	if changed && disabled {
		s.bindCodes.drop(u.ID)
	}
	if changed {
		action, detail := "user.enable", ""
		if disabled {
			action, detail = "user.disable", "已退出所有设备，推送链接已作废"
		}
		s.audit(ctx, by, action, userTarget(u), detail)
		s.log.Info(action, "user", u.PublicID, "by", by.Name)
	}
	return u, nil
}

// SetUserAdmin grants or withdraws admin rights. The last enabled admin
// keeps them.
func (s *Service) SetUserAdmin(ctx context.Context, by Actor, publicID string, admin bool) (store.User, error) {
	u, err := s.target(ctx, publicID)
	if err != nil {
		return u, err
	}
	u, changed, err := s.store.SetAdmin(ctx, by.UserID, u.ID, admin)
	if err != nil {
		return u, accountError(err)
	}
	if changed {
		action := map[bool]string{true: "user.promote", false: "user.demote"}[admin]
		s.audit(ctx, by, action, userTarget(u), "")
		s.log.Info(action, "user", u.PublicID, "by", by.Name)
	}
	return u, nil
}

// DeleteUser deletes an account once confirmName repeats its name. Its
// binding, push key and sessions go; its delivery history stays,
// anonymised. An admin cannot delete themself, nor the last enabled admin.
func (s *Service) DeleteUser(ctx context.Context, by Actor, publicID, confirmName string) (store.User, error) {
	u, err := s.target(ctx, publicID)
	if err != nil {
		return u, err
	}
	if u.ID == by.UserID {
		return u, &Error{Code: EForbidden, Reason: "self", Message: "不能删除自己的账号。"}
	}
	if confirmName != u.Name {
		msg := fmt.Sprintf("请输入用户名「%s」以确认删除。", u.Name)
		return u, &Error{Code: EInvalid, Reason: "confirm_name", Message: msg, Fields: map[string]string{"confirm_name": msg}}
	}
	u, err = s.store.DeleteUser(ctx, by.UserID, u.ID, noteDeleted)
	if err != nil {
		return u, accountError(err)
	}
	s.bindCodes.drop(u.ID)
	s.audit(ctx, by, "user.delete", userTarget(u), "绑定、推送链接和登录设备已删除；投递记录已匿名保留")
	s.log.Info("user deleted", "user", u.PublicID, "by", by.Name)
	return u, nil
}

// unbindByWeChat is the keyword 解绑: the WeChat that sent it stops being
// bound to whichever account it was, e.g. after someone tricked its owner
// into scanning their binding code. It returns the reply.
func (s *Service) unbindByWeChat(ctx context.Context, openid string) string {
	u, err := s.store.UnbindOpenID(ctx, openid)
	if errors.Is(err, store.ErrNotFound) {
		return "这个微信没有绑定本站账号，无需解绑。"
	}
	if err != nil {
		s.log.Error("unbind by keyword", "err", err)
		return "解绑失败，请稍后重试。"
	}
	s.audit(ctx, Actor{UserID: u.ID, Name: u.Name, Via: "wechat"}, "binding.unbind", userTarget(u),
		"在微信中回复「解绑」（"+wechat.MaskOpenID(openid)+"）")
	s.log.Info("unbound by keyword", "user", u.PublicID, "openid", wechat.MaskOpenID(openid))
	return fmt.Sprintf("已解除这个微信与账号「%s」的绑定，之后不会再收到它的通知。如需重新绑定，请登录网站扫码。", u.Name)
}
