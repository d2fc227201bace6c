package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// The account page: my binding, my personal push URL, and (admins) sign-up.

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	flash := ""
	switch r.URL.Query().Get("done") {
	case "unbound":
		flash = "已解除微信绑定。"
	case "signup":
		flash = "注册设置已更新。"
	case "password":
		flash = "密码已修改，其他设备上的登录已全部退出。"
	case "demoted":
		flash = "你已不再是管理员。"
	default:
		flash = sessionsFlash(r.URL.Query().Get("done"))
	case "topic":
		flash = "订阅已更新。"
	}
	return s.renderAccount(w, r, flash, "")
}

// renderAccount renders the account page; newKeyURL is a just-made push
// URL, shown this once.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, flash, newKeyURL string) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	a := views.Account{Name: u.Name, PublicID: u.PublicID, IsAdmin: u.IsAdmin, CreatedAt: fmtTime(u.CreatedAt),
		Flash: flash, NewKeyURL: newKeyURL}
	var err error
	if a.SendKey, err = s.sendKeyView(ctx, u); err != nil {
		return err
	}
	if a.Sessions, err = s.sessionRows(r, u); err != nil {
		return err
	}
	if a.Topics, err = s.accountTopics(ctx, u); err != nil {
		return err
	}
	b, err := s.App.Binding(ctx, u.ID)
	switch {
	case err == nil:
		a.Bound, a.OpenID, a.Nickname, a.BoundAt = true, wechat.MaskOpenID(b.OpenID), b.Nickname, fmtTime(b.BoundAt)
	case service.ErrorCode(err) != service.ENotFound:
		return err
	}
	if u.IsAdmin {
		if a.SignupOpen, err = s.App.SignupOpen(ctx); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.AccountPage(s.page(r, "我的账号"), a))
	return nil
}

func (s *Server) unbind(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.Unbind(r.Context(), u); err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=unbound", http.StatusSeeOther)
	return nil
}

func (s *Server) setSignup(w http.ResponseWriter, r *http.Request) error {
	v := r.PostFormValue("open")
	if v != "0" && v != "1" {
		return errorf(http.StatusBadRequest, "参数错误", "open 只能是 0 或 1。")
	}
	u, _ := userFrom(r.Context())
	if err := s.App.SetSignupOpen(r.Context(), service.UserActor(u), v == "1"); err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=signup", http.StatusSeeOther)
	return nil
}

// sendKeyView describes the user's key for the account page.
func (s *Server) sendKeyView(ctx context.Context, u store.User) (*views.SendKey, error) {
	k, err := s.Store.SendKey(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := &views.SendKey{URL: s.Config.BaseURL.JoinPath("/send").String() + "/" + k.Prefix + "…", Created: fmtTime(k.CreatedAt)}
	if !k.LastUsedAt.IsZero() {
		v.LastUsed = fmtTime(k.LastUsedAt)
	}
	return v, nil
}
