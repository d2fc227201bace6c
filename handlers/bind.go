package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
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
	cur, err := s.Store.Binding(ctx, u.ID)
	switch {
	case err == nil:
		b.Panel = views.BindPanel{State: "current", OpenID: wechat.MaskOpenID(cur.OpenID), Nickname: cur.Nickname, BoundAt: fmtTime(cur.BoundAt)}
	case errors.Is(err, store.ErrNotFound):
		if b.Panel, err = s.bindPanelFor(r, u); err != nil {
			return err
		}
	default:
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.BindPage(s.page(r, "绑定微信"), b))
	return nil
}

// newBindPanel issues a fresh one-time token (within bindCodeLimit) and
// the QR code of the OAuth URL that carries it as state (§2), and
// remembers it as the user's live code.
func (s *Server) newBindPanel(r *http.Request, u store.User) (views.BindPanel, error) {
	ctx := r.Context()
	token, rec, err := s.Store.NewBindTokenLimited(ctx, u.ID, s.Config.BindTTL, bindCodeLimit)
	if err != nil {
		return views.BindPanel{}, bindLimitError(err)
	}
	p := views.BindPanel{
		State:     "waiting",
		TokenID:   rec.ID,
		ExpiresAt: rec.ExpiresAt.In(beijing).Format("15:04:05"),
		Sandbox:   s.Config.Sandbox,
	}
	// One scan to follow and bind: a parameterized QR code whose scene is
	// the token (§3). Accounts without that API fall back to OAuth.
	target := ""
	if s.Config.BindMode != "oauth" && s.Tokens != nil {
		var qr wechat.QRCode
		err := s.Tokens.Do(ctx, func(ctx context.Context, at string) error {
			var err error
			qr, err = s.WeChat.CreateQRCode(ctx, at, bindScenePrefix+token, s.Config.BindTTL)
			return err
		})
		switch {
		case err == nil:
			target, p.Scan = qr.URL, true
		case s.Config.BindMode == "qrcode":
			return views.BindPanel{}, fmt.Errorf("create parameterized QR code: %w", err)
		default:
			s.logger(ctx).Warn("parameterized QR code unavailable; binding by OAuth", "err", err)
		}
	}
	if target == "" {
		target = s.WeChat.AuthorizeURL(s.callbackURL(), s.Config.OAuthScope, token)
	}
	if p.QR, err = qrDataURL(target); err != nil {
		return views.BindPanel{}, err
	}
	p.AuthURL = target
	s.bindCodes.remember(u.ID, p, rec.ExpiresAt, s.Now())
	return p, nil
}

func (s *Server) callbackURL() string {
	return s.Config.BaseURL.JoinPath("/wechat/oauth/callback").String()
}

// bindRefresh swaps a fresh QR code into the panel.
func (s *Server) bindRefresh(w http.ResponseWriter, r *http.Request) error {
	if !isHTMX(r) {
		http.Redirect(w, r, "/bind", http.StatusSeeOther)
		return nil
	}
	u, _ := userFrom(r.Context())
	p, err := s.newBindPanel(r, u)
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
	tok, b, err := s.Store.BindStatus(ctx, u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "二维码不存在", "这个绑定二维码不存在，请刷新页面。")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	// Bound through this token, or through another tab's token since this
	// one was issued: either way the user is done.
	if b != nil && (tok.Used() || b.BoundAt.After(tok.CreatedAt)) {
		return s.swapPanel(w, r, views.BindPanel{State: "bound", OpenID: wechat.MaskOpenID(b.OpenID), Nickname: b.Nickname, BoundAt: fmtTime(b.BoundAt)})
	}
	if tok.Used() || tok.Expired(s.Now()) {
		// A used token without a binding was unbound since: offer a new QR.
		return s.swapPanel(w, r, views.BindPanel{State: "expired"})
	}
	s.render(w, r, http.StatusOK, views.BindWaiting(tok.ID, tok.ExpiresAt.In(beijing).Format("15:04:05")))
	return nil
}

func (s *Server) swapPanel(w http.ResponseWriter, r *http.Request, p views.BindPanel) error {
	w.Header().Set("HX-Retarget", "#bind-panel")
	w.Header().Set("HX-Reswap", "outerHTML")
	s.render(w, r, http.StatusOK, views.BindPanelView(p))
	return nil
}

var validState = regexp.MustCompile(`^[A-Za-z0-9]{1,128}$`)

// oauthCallback is where WeChat sends the phone after the user allows (or
// refuses) the authorization: it spends the one-time state and binds.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	fail := func(status int, title, msg string) error {
		s.renderPhone(w, r, status, views.PhoneResult{Title: title, Message: msg})
		return nil
	}
	if !validState.MatchString(state) {
		return fail(http.StatusBadRequest, "二维码无效", "这个链接不完整或已损坏。请在电脑上刷新绑定页面，重新扫码。")
	}
	tok, err := s.Store.BindTokenByToken(ctx, state)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, "二维码无效", "找不到这个绑定二维码。请在电脑上刷新绑定页面，重新扫码。")
	case err != nil:
		return err
	case tok.Used():
		return fail(http.StatusGone, "二维码已使用", "这个二维码已经完成过绑定，每个二维码只能使用一次。如需重新绑定，请在电脑上生成新的二维码。")
	case tok.Expired(s.Now()):
		return fail(http.StatusGone, "二维码已过期", "这个二维码已过期。请在电脑上点击「刷新二维码」，然后重新扫码。")
	}
	if code == "" {
		// WeChat sends state without code when the user refuses (§2).
		return fail(http.StatusOK, "你取消了授权", "没有授权就无法绑定。如需绑定，请重新扫描电脑上的二维码并点击「允许」。")
	}
	ot, err := s.WeChat.ExchangeCode(ctx, code)
	if err != nil {
		var we *wechat.Error
		if errors.As(err, &we) {
			s.logger(ctx).Warn("oauth code exchange refused", "errcode", we.Code, "errmsg", we.Msg)
			if we.ConfigProblem() {
				return fail(http.StatusBadGateway, "暂时无法绑定", "网站的微信配置有误，请联系网站管理员。")
			}
			return fail(http.StatusBadRequest, "授权已失效", "微信授权码无效或已过期。请重新扫描电脑上的二维码。")
		}
		s.logger(ctx).Error("oauth code exchange failed", "err", err)
		return fail(http.StatusBadGateway, "暂时无法绑定", "连接微信服务器失败，请稍后重新扫码。")
	}
	if ot.IsSnapshotUser {
		return fail(http.StatusBadRequest, "请在微信中打开", "当前页面处于快照预览模式，无法识别你的微信。请点击页面底部「使用完整服务」后再授权。")
	}
	b := store.Binding{OpenID: ot.OpenID}
	if ot.Scope == "snsapi_userinfo" {
		// Nickname and avatar are nice to have; binding goes on without them.
		if info, err := s.WeChat.UserInfo(ctx, ot.AccessToken, ot.OpenID); err == nil {
			b.Nickname, b.AvatarURL = info.Nickname, info.HeadImgURL
		} else {
			s.logger(ctx).Warn("sns userinfo failed", "err", err)
		}
	}
	b, err = s.Store.CompleteBinding(ctx, state, b)
	switch {
	case errors.Is(err, store.ErrOpenIDTaken):
		return fail(http.StatusConflict, "该微信已绑定其他账号", "这个微信已经绑定了本站的另一个账号。一个微信只能绑定一个账号：请先登录那个账号解除绑定，或换一个微信扫码。")
	case errors.Is(err, store.ErrTokenUsed):
		return fail(http.StatusGone, "二维码已使用", "这个二维码已经完成过绑定，每个二维码只能使用一次。")
	case errors.Is(err, store.ErrTokenExpired):
		return fail(http.StatusGone, "二维码已过期", "这个二维码已过期。请在电脑上点击「刷新二维码」，然后重新扫码。")
	case err != nil:
		return err
	}
	u, err := s.Store.UserByID(ctx, b.UserID)
	if err != nil {
		return err
	}
	s.logger(ctx).Info("bound", "user", u.PublicID, "openid", wechat.MaskOpenID(b.OpenID))
	s.checkFollowing(ctx, b.OpenID)
	s.renderPhone(w, r, http.StatusOK, views.PhoneResult{
		OK: true, Title: "绑定成功", Message: "你的微信已绑定到本站账号，之后的消息会推送到这个微信。",
		Name: u.Name, OpenID: wechat.MaskOpenID(b.OpenID),
	})
	return nil
}

func (s *Server) renderPhone(w http.ResponseWriter, r *http.Request, status int, p views.PhoneResult) {
	p.Sandbox, p.Assets = s.Config.Sandbox, s.assets()
	s.render(w, r, status, views.PhoneResultPage(p))
}

// checkFollowing asks WeChat, off the request path, whether a newly bound
// openid follows the account, so the dashboard knows before the first send.
func (s *Server) checkFollowing(ctx context.Context, openid string) {
	if s.Tokens == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	go func() {
		defer cancel()
		var f wechat.Follower
		err := s.Tokens.Do(ctx, func(ctx context.Context, token string) error {
			var err error
			f, err = s.WeChat.Follower(ctx, token, openid)
			return err
		})
		if err != nil {
			s.logger(ctx).Warn("follow check after binding", "err", err)
			return
		}
		if err := s.Store.SetFollowing(ctx, openid, f.Subscribed, s.Now()); err != nil {
			s.logger(ctx).Warn("follow check after binding", "err", err)
		}
	}()
}
