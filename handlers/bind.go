package handlers

import (
	"net/http"
	"strconv"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// bindPage is step 1 (follow the account) and step 2 (scan to bind).
func (s *Server) bindPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	b := views.Bind{}
	if s.Config.FollowQRURL != "" {
		b.FollowQR = s.Config.FollowQRURL
	} else if s.Config.Sandbox {
		phone := s.Config.BaseURL.JoinPath("/sandbox/phone").String()
		qr, err := qrDataURL(phone)
		if err != nil {
			return err
		}
		b.FollowQR, b.FollowLink = qr, phone
	}
	cur, err := s.App.Binding(ctx, u.ID)
	switch {
	case err == nil:
		b.Panel = views.BindPanel{State: "current", WeChat: s.wechatUser(cur), BoundAt: s.fmtTime(cur.BoundAt)}
	case service.ErrorCode(err) == service.ENotFound:
		if b.Panel, err = s.bindPanel(r, u, false); err != nil {
			return err
		}
	default:
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.BindPage(s.page(r, "绑定微信"), b))
	return nil
}

// bindPanel renders the user's binding code: the live one (reloads show
// the same QR code), or with fresh a new one (the refresh button).
func (s *Server) bindPanel(r *http.Request, u store.User, fresh bool) (views.BindPanel, error) {
	get := s.App.BindCode
	if fresh {
		get = s.App.StartBinding
	}
	c, err := get(r.Context(), u.ID)
	if err != nil {
		return views.BindPanel{}, err
	}
	p := views.BindPanel{
		State:     "waiting",
		TokenID:   c.Token.ID,
		ExpiresAt: s.clock(c.Token.ExpiresAt),
		Sandbox:   s.Config.Sandbox,
		Scan:      c.Scan,
		AuthURL:   c.Target,
		TTL:       durationWords(s.App.Config().BindTTL),
	}
	if p.QR, err = qrDataURL(c.Target); err != nil {
		return views.BindPanel{}, err
	}
	return p, nil
}

// bindRefresh swaps a fresh QR code into the panel.
func (s *Server) bindRefresh(w http.ResponseWriter, r *http.Request) error {
	if !isHTMX(r) {
		http.Redirect(w, r, "/bind", http.StatusSeeOther)
		return nil
	}
	u, _ := userFrom(r.Context())
	p, err := s.bindPanel(r, u, true)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.BindPanelView(p))
	return nil
}

// bindStatus answers the page's 2-second poll for token t: the waiting line
// while pending, or — retargeted to the whole panel, which ends the polling —
// the success or expired state.
func (s *Server) bindStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	id, err := strconv.ParseInt(r.URL.Query().Get("t"), 10, 64)
	if err != nil {
		return errorf(http.StatusBadRequest, "参数错误", "缺少或无效的二维码编号，请刷新页面。")
	}
	if !isHTMX(r) {
		http.Redirect(w, r, "/bind", http.StatusSeeOther)
		return nil
	}
	state, tok, b, err := s.App.BindStatus(ctx, u.ID, id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	switch state {
	case service.BindDone:
		return s.swapPanel(w, r, views.BindPanel{State: "bound", WeChat: s.wechatUser(*b), BoundAt: s.fmtTime(b.BoundAt)})
	case service.BindExpired:
		return s.swapPanel(w, r, views.BindPanel{State: "expired", TTL: durationWords(s.App.Config().BindTTL)})
	}
	s.render(w, r, http.StatusOK, views.BindWaiting(tok.ID, s.clock(tok.ExpiresAt)))
	return nil
}

func (s *Server) swapPanel(w http.ResponseWriter, r *http.Request, p views.BindPanel) error {
	w.Header().Set("HX-Retarget", "#bind-panel")
	w.Header().Set("HX-Reswap", "outerHTML")
	s.render(w, r, http.StatusOK, views.BindPanelView(p))
	return nil
}

// oauthTitles head the phone page for each way a binding can fail.
var oauthTitles = map[string]string{
	service.ReasonCodeInvalid: "二维码无效",
	service.ReasonCodeUsed:    "二维码已使用",
	service.ReasonCodeExpired: "二维码已过期",
	service.ReasonOpenIDTaken: "该微信已绑定其他账号",
	service.ReasonCancelled:   "你取消了授权",
	service.ReasonAuthInvalid: "授权已失效",
	service.ReasonSnapshot:    "请在微信中打开",
}

// oauthStatus is the phone page's status for each failure.
var oauthStatus = map[string]int{
	service.ReasonCodeUsed:    http.StatusGone,
	service.ReasonCodeExpired: http.StatusGone,
	service.ReasonCancelled:   http.StatusOK,
}

// oauthCallback is where WeChat sends the phone after the user allows (or
// refuses) the authorization: it spends the one-time state and binds.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	u, b, err := s.App.CompleteOAuth(r.Context(), q.Get("state"), q.Get("code"))
	if se := service.AsError(err); err != nil && se.Code != service.EInternal {
		e := asError(err)
		if st, ok := oauthStatus[se.Reason]; ok {
			e.Status = st
		}
		title := oauthTitles[se.Reason]
		if title == "" {
			title = "暂时无法绑定"
		}
		s.logError(w, r, err)
		s.renderPhone(w, r, e.Status, views.PhoneResult{Title: title, Message: e.Message})
		return nil
	}
	if err != nil {
		return err
	}
	s.renderPhone(w, r, http.StatusOK, views.PhoneResult{
		OK: true, Title: "绑定成功", Message: "你的微信已绑定到本站账号，之后的消息会推送到这个微信。",
		Name: u.Name, WeChat: s.wechatUser(b),
	})
	return nil
}

func (s *Server) renderPhone(w http.ResponseWriter, r *http.Request, status int, p views.PhoneResult) {
	p.Sandbox, p.Assets = s.Config.Sandbox, s.assets()
	s.render(w, r, status, views.PhoneResultPage(p))
}
