package handlers

import (
	"errors"
	"net/http"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	flash := ""
	switch r.URL.Query().Get("done") {
	case "unbound":
		flash = "已解除微信绑定。"
	case "signup":
		flash = "注册设置已更新。"
	default:
		flash = sessionsFlash(r.URL.Query().Get("done"))
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
	b, err := s.Store.Binding(ctx, u.ID)
	switch {
	case err == nil:
		a.Bound, a.OpenID, a.Nickname, a.BoundAt = true, wechat.MaskOpenID(b.OpenID), b.Nickname, fmtTime(b.BoundAt)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if u.IsAdmin {
		if a.SignupOpen, err = s.signupOpen(ctx); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.AccountPage(s.page(r, "我的账号"), a))
	return nil
}

func (s *Server) unbind(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	err := s.Store.Unbind(r.Context(), u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.logger(r.Context()).Info("unbind", "user", u.PublicID)
	http.Redirect(w, r, "/?done=unbound", http.StatusSeeOther)
	return nil
}

func (s *Server) setSignup(w http.ResponseWriter, r *http.Request) error {
	v := r.PostFormValue("open")
	if v != "0" && v != "1" {
		return errorf(http.StatusBadRequest, "参数错误", "open 只能是 0 或 1。")
	}
	if err := s.Store.SetSetting(r.Context(), settingSignupOpen, []byte(v)); err != nil {
		return err
	}
	s.audit(r, "signup.toggle", map[string]string{"0": "关闭注册", "1": "开放注册"}[v], "")
	http.Redirect(w, r, "/?done=signup", http.StatusSeeOther)
	return nil
}
