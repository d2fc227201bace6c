package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// The account page: my binding, my personal push URL, and (admins) sign-up.

// accountPage shows the account; a push URL made just now (rotateSendKey)
// comes in the flash and is shown this once.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	a := views.Account{Name: u.Name, PublicID: u.PublicID, IsAdmin: u.IsAdmin, CreatedAt: s.fmtTime(u.CreatedAt),
		NewKeyURL: flashFrom(r).Secret}
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
		a.Bound, a.WeChat, a.BoundAt = true, s.wechatUser(b), s.fmtTime(b.BoundAt)
	case service.ErrorCode(err) != service.ENotFound:
		return err
	}
	if u.IsAdmin {
		if a.SignupOpen, err = s.App.SignupOpen(ctx); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.AccountPage(s.doneNotice(r, "我的账号", accountDone), a))
	return nil
}

// accountDone is what the pages that redirect here with ?done= did.
var accountDone = map[string]string{
	"password": "密码已修改，其他设备上的登录已全部退出。",
	"demoted":  "你已不再是管理员。",
	"topic":    "订阅已更新。",
}

// doneNotice is s.page, with the notice of a redirect's ?done= when no
// flash came with it.
func (s *Server) doneNotice(r *http.Request, title string, done map[string]string) views.Page {
	p := s.page(r, title)
	if p.Notice == "" {
		p.Notice = done[r.URL.Query().Get("done")]
	}
	return p
}

func (s *Server) unbind(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.Unbind(r.Context(), u); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/", Flash{Notice: "已解除微信绑定。"})
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
	s.redirectFlash(w, r, "/", Flash{Notice: "注册设置已更新。"})
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
	v := &views.SendKey{URL: s.Config.BaseURL.JoinPath("/send").String() + "/" + k.Prefix + "…", Created: s.fmtTime(k.CreatedAt)}
	if !k.LastUsedAt.IsZero() {
		v.LastUsed = s.fmtTime(k.LastUsedAt)
	}
	return v, nil
}
