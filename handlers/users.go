package handlers

import (
	"errors"
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// The admin's page of one user, and the account actions on it: each is a
// GET of its confirmation page, then a POST of that page's form.

// userActions are the actions /admin/users/{id}/{action} confirms.
var userActions = map[string]bool{
	views.ActionResetPassword: true, views.ActionDisable: true, views.ActionEnable: true,
	views.ActionPromote: true, views.ActionDemote: true, views.ActionDelete: true,
}

// userFlashes: the user page's message after an action.
var userFlashes = map[string]string{
	"disabled": "账号已停用：已退出所有设备，推送链接已作废。",
	"enabled":  "账号已启用。",
	"promoted": "已设为管理员。",
	"demoted":  "已取消管理员权限。",
}

// userPage: GET /admin/users/{id}.
func (s *Server) userPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	me, _ := userFrom(ctx)
	u, err := s.App.User(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := views.UserDetail{PublicID: u.PublicID, Name: u.Name, IsAdmin: u.IsAdmin, Disabled: u.Disabled(),
		DisabledAt: s.fmtTime(u.DisabledAt), IsSelf: u.ID == me.ID, CreatedAt: s.fmtTime(u.CreatedAt),
		Flash: userFlashes[r.URL.Query().Get("done")]}
	b, err := s.Store.Binding(ctx, u.ID)
	switch {
	case err == nil:
		d.Bound, d.Nickname, d.OpenID, d.BoundAt = true, b.Nickname, wechat.MaskOpenID(b.OpenID), s.fmtTime(b.BoundAt)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if d.SendKey, err = s.sendKeyView(ctx, u); err != nil {
		return err
	}
	sessions, err := s.Store.UserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	d.Sessions = len(sessions)
	if len(sessions) > 0 {
		d.LastSeen = s.fmtTime(sessions[0].LastSeenAt)
	}
	p, err := s.Store.PasswordResetOf(ctx, u.ID)
	switch {
	case err == nil && p.Used():
		d.Reset = "最近一次已于 " + s.fmtTime(p.UsedAt) + " 使用"
	case err == nil && p.Expired(s.Now()):
		d.Reset = "最近一次已于 " + s.fmtTime(p.ExpiresAt) + " 过期，未使用"
	case err == nil:
		d.Reset = "有一个未使用的链接，有效期至 " + s.fmtTime(p.ExpiresAt)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.UserPage(s.page(r, u.Name), d))
	return nil
}

// confirmUserAction: GET /admin/users/{id}/{action}, the confirmation step.
func (s *Server) confirmUserAction(w http.ResponseWriter, r *http.Request) error {
	action := r.PathValue("action")
	if !userActions[action] {
		return errorf(http.StatusNotFound, "页面不存在", "没有这项账号操作。")
	}
	u, err := s.App.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.UserConfirmPage(s.page(r, "确认操作"),
		views.UserConfirm{PublicID: u.PublicID, Name: u.Name, Action: action}))
	return nil
}

// userAction runs one confirmed action: POST /admin/users/{id}/{action}.
// A POST without the confirmation page's confirm=yes changes nothing and
// goes to that page; a refusal shows it again with the reason. do returns
// where to go next, or "" when it rendered the answer itself.
func (s *Server) userAction(action string, do func(r *http.Request, by service.Actor, id string) (redirect string, err error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if r.PostFormValue("confirm") != "yes" {
			http.Redirect(w, r, "/admin/users/"+id+"/"+action, http.StatusSeeOther)
			return nil
		}
		me, _ := userFrom(r.Context())
		to, err := do(r, service.UserActor(me), id)
		if e := service.AsError(err); err != nil && e.Code != service.EInternal && e.Code != service.ENotFound {
			he := s.logError(w, r, err)
			u, uerr := s.App.User(r.Context(), id)
			if uerr != nil {
				return uerr
			}
			s.render(w, r, he.Status, views.UserConfirmPage(s.page(r, "确认操作"),
				views.UserConfirm{PublicID: u.PublicID, Name: u.Name, Action: action, Error: e.Message}))
			return nil
		}
		if err != nil {
			return err
		}
		if to != "" {
			http.Redirect(w, r, to, http.StatusSeeOther)
		}
		return nil
	}
}

// setUserDisabled and setUserAdmin go back to the user's page — or, for
// an admin who just gave up their own rights, to their account page.
func (s *Server) setUserDisabled(disabled bool) handlerFunc {
	action, done := views.ActionEnable, "enabled"
	if disabled {
		action, done = views.ActionDisable, "disabled"
	}
	return s.userAction(action, func(r *http.Request, by service.Actor, id string) (string, error) {
		u, err := s.App.SetUserDisabled(r.Context(), by, id, disabled)
		return "/admin/users/" + u.PublicID + "?done=" + done, err
	})
}

func (s *Server) setUserAdmin(admin bool) handlerFunc {
	action, done := views.ActionDemote, "demoted"
	if admin {
		action, done = views.ActionPromote, "promoted"
	}
	return s.userAction(action, func(r *http.Request, by service.Actor, id string) (string, error) {
		u, err := s.App.SetUserAdmin(r.Context(), by, id, admin)
		if err == nil && u.ID == by.UserID && !admin {
			return "/?done=demoted", nil
		}
		return "/admin/users/" + u.PublicID + "?done=" + done, err
	})
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(views.ActionDelete, func(r *http.Request, by service.Actor, id string) (string, error) {
		_, err := s.App.DeleteUser(r.Context(), by, id, r.PostFormValue("confirm_name"))
		return "/admin?done=deleted#users", err
	})(w, r)
}

// createResetLink makes a reset link and shows it, this once: the page is
// the POST's answer, never a redirect, so the link is in no URL but its own.
func (s *Server) createResetLink(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(views.ActionResetPassword, func(r *http.Request, by service.Actor, id string) (string, error) {
		link, expires, err := s.App.CreatePasswordResetLink(r.Context(), by, id)
		if err != nil {
			return "", err
		}
		u, err := s.App.User(r.Context(), id)
		if err != nil {
			return "", err
		}
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, http.StatusOK, views.ResetLinkPage(s.page(r, "重置密码链接"),
			views.ResetLink{PublicID: u.PublicID, Name: u.Name, URL: link, Expires: s.fmtTime(expires)}))
		return "", nil // rendered here
	})(w, r)
}
