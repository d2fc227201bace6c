package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// BindScenePrefix marks a parameterized QR code's scene as a binding token.
const BindScenePrefix = "bind_"

// validToken is the shape of a binding token as it comes back from WeChat
// (the OAuth state or the QR scene).
var validToken = regexp.MustCompile(`^[A-Za-z0-9]{1,128}$`)

// BindCode is a fresh binding code: what the QR code on /bind encodes.
type BindCode struct {
	Token  store.BindToken
	Target string // the URL the QR code holds: WeChat's QR ticket URL, or the OAuth page
	Scan   bool   // one scan follows and binds (parameterized QR code); false: OAuth
}

// StartBinding issues a new one-time binding token for the user (within
// BindCodeLimit: ETooMany beyond it) and the QR target that carries it: a
// parameterized QR code whose scene is the token (one scan follows and
// binds, docs/wechat.md "Parameterized QR codes"), or — for accounts
// without that API, or WX_BIND_MODE=oauth — the OAuth page with the token
// as state. The code becomes the user's live code (BindCode).
func (s *Service) StartBinding(ctx context.Context, userID int64) (BindCode, error) {
	token, rec, err := s.store.NewBindTokenLimited(ctx, userID, s.cfg.BindTTL, BindCodeLimit)
	if err != nil {
		return BindCode{}, bindLimitError(err)
	}
	c := BindCode{Token: rec}
	if s.cfg.BindMode != "oauth" && s.tokens != nil {
		var qr wechat.QRCode
		err := s.tokens.Do(ctx, func(ctx context.Context, at string) error {
			var err error
			qr, err = s.wx.CreateQRCode(ctx, at, BindScenePrefix+token, s.cfg.BindTTL)
			return err
		})
		switch {
		case err == nil:
			c.Target, c.Scan = qr.URL, true
		case s.cfg.BindMode == "qrcode":
			return BindCode{}, fmt.Errorf("create parameterized QR code: %w", err)
		default:
			s.log.Warn("parameterized QR code unavailable; binding by OAuth", "err", err)
		}
	}
	if c.Target == "" {
		c.Target = s.wx.AuthorizeURL(s.OAuthCallbackURL(), s.cfg.OAuthScope, token)
	}
	s.bindCodes.remember(userID, c, s.now())
	return c, nil
}

// OAuthCallbackURL is where WeChat sends the phone after authorization.
func (s *Service) OAuthCallbackURL() string {
	return s.cfg.BaseURL.JoinPath("/wechat/oauth/callback").String()
}

// BindState is where a binding code stands, as the /bind page's poll sees it.
type BindState int

const (
	BindWaiting BindState = iota // not scanned yet
	BindDone                     // the user is bound (through this code or another tab's)
	BindExpired                  // expired, or used and unbound since: offer a new code
)

// BindStatus answers the /bind page's poll for one of the user's codes.
// ENotFound when the code is not the user's.
func (s *Service) BindStatus(ctx context.Context, userID, tokenID int64) (BindState, store.BindToken, *store.Binding, error) {
	tok, b, err := s.store.BindStatus(ctx, userID, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, tok, nil, &Error{Code: ENotFound, Message: "这个绑定二维码不存在，请刷新页面。"}
	}
	if err != nil {
		return 0, tok, nil, err
	}
	// Bound through this token, or through another tab's token since this
	// one was issued: either way the user is done.
	if b != nil && (tok.Used() || b.BoundAt.After(tok.CreatedAt)) {
		return BindDone, tok, b, nil
	}
	if tok.Used() || tok.Expired(s.now()) {
		return BindExpired, tok, nil, nil
	}
	return BindWaiting, tok, nil, nil
}

// Binding returns the user's binding; ENotFound when unbound.
func (s *Service) Binding(ctx context.Context, userID int64) (store.Binding, error) {
	b, err := s.store.Binding(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return b, &Error{Code: ENotFound, Message: "还没有绑定微信。"}
	}
	return b, err
}

// Unbind removes the user's binding (no binding is not an error).
func (s *Service) Unbind(ctx context.Context, u store.User) error {
	err := s.store.Unbind(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.audit(ctx, UserActor(u), "binding.unbind", userTarget(u), "在网页上解除绑定")
	s.log.Info("unbind", "user", u.PublicID)
	return nil
}

// Reasons of the binding errors, for adapters that word them their own way.
const (
	ReasonCodeInvalid = "code_invalid" // malformed or unknown code
	ReasonCodeUsed    = "code_used"
	ReasonCodeExpired = "code_expired"
	ReasonOpenIDTaken = "openid_taken"
	ReasonCancelled   = "cancelled"   // the user refused the authorization
	ReasonAuthInvalid = "auth_failed" // WeChat refused the code exchange
	ReasonSnapshot    = "snapshot"    // WeChat's snapshot (preview) mode
)

// CompleteOAuth finishes a binding by web authorization: WeChat sent the
// phone back with state (our token) and code. It returns the bound user.
func (s *Service) CompleteOAuth(ctx context.Context, state, code string) (store.User, store.Binding, error) {
	if !validToken.MatchString(state) {
		return store.User{}, store.Binding{}, &Error{Code: EInvalid, Reason: ReasonCodeInvalid, Message: "这个链接不完整或已损坏。请在电脑上刷新绑定页面，重新扫码。"}
	}
	tok, err := s.store.BindTokenByToken(ctx, state)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, store.Binding{}, &Error{Code: ENotFound, Reason: ReasonCodeInvalid, Message: "找不到这个绑定二维码。请在电脑上刷新绑定页面，重新扫码。"}
	case err != nil:
		return store.User{}, store.Binding{}, err
	case tok.Used():
		return store.User{}, store.Binding{}, codeUsed("这个二维码已经完成过绑定，每个二维码只能使用一次。如需重新绑定，请在电脑上生成新的二维码。")
	case tok.Expired(s.now()):
		return store.User{}, store.Binding{}, codeExpired()
	}
	if code == "" {
		// WeChat sends state without code when the user refuses
		// (docs/wechat.md, "OAuth web authorization").
		return store.User{}, store.Binding{}, &Error{Code: EForbidden, Reason: ReasonCancelled, Message: "没有授权就无法绑定。如需绑定，请重新扫描电脑上的二维码并点击「允许」。"}
	}
	ot, err := s.wx.ExchangeCode(ctx, code)
	if err != nil {
		var we *wechat.Error
		if errors.As(err, &we) {
			s.log.Warn("oauth code exchange refused", "errcode", we.Code, "errmsg", we.Msg)
			if we.ConfigProblem() {
				return store.User{}, store.Binding{}, &Error{Code: EUpstream, Message: "网站的微信配置有误，请联系网站管理员。", Err: err}
			}
			return store.User{}, store.Binding{}, &Error{Code: EInvalid, Reason: ReasonAuthInvalid, Message: "微信授权码无效或已过期。请重新扫描电脑上的二维码。", Err: err}
		}
		return store.User{}, store.Binding{}, &Error{Code: EUpstream, Message: "连接微信服务器失败，请稍后重新扫码。", Err: err}
	}
	if ot.IsSnapshotUser {
		return store.User{}, store.Binding{}, &Error{Code: EInvalid, Reason: ReasonSnapshot, Message: "当前页面处于快照预览模式，无法识别你的微信。请点击页面底部「使用完整服务」后再授权。"}
	}
	b := store.Binding{OpenID: ot.OpenID}
	if ot.Scope == "snsapi_userinfo" {
		// Nickname and avatar are nice to have; binding goes on without them.
		if info, err := s.wx.UserInfo(ctx, ot.AccessToken, ot.OpenID); err == nil {
			b.Nickname, b.AvatarURL = info.Nickname, info.HeadImgURL
		} else {
			s.log.Warn("sns userinfo failed", "err", err)
		}
	}
	u, b, err := s.completeBinding(ctx, state, b)
	if err != nil {
		return u, b, err
	}
	s.log.Info("bound", "user", u.PublicID, "openid", wechat.MaskOpenID(b.OpenID))
	s.CheckFollowing(ctx, b.OpenID)
	return u, b, nil
}

func codeUsed(msg string) *Error {
	return &Error{Code: EConflict, Reason: ReasonCodeUsed, Message: msg}
}

func codeExpired() *Error {
	return &Error{Code: EConflict, Reason: ReasonCodeExpired, Message: "这个二维码已过期。请在电脑上点击「刷新二维码」，然后重新扫码。"}
}

// completeBinding spends the token and binds, wording the store's refusals.
func (s *Service) completeBinding(ctx context.Context, token string, b store.Binding) (store.User, store.Binding, error) {
	b, err := s.store.CompleteBinding(ctx, token, b)
	if err != nil {
		b = store.Binding{} // only a made binding has a user
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, b, &Error{Code: ENotFound, Reason: ReasonCodeInvalid, Message: "二维码无效，请在网页上刷新后重新扫码。"}
	case errors.Is(err, store.ErrOpenIDTaken):
		return store.User{}, b, &Error{Code: EConflict, Reason: ReasonOpenIDTaken,
			Message: "这个微信已经绑定了本站的另一个账号。一个微信只能绑定一个账号：请先登录那个账号解除绑定，或换一个微信扫码。"}
	case errors.Is(err, store.ErrTokenUsed):
		return store.User{}, b, codeUsed("这个二维码已经完成过绑定，每个二维码只能使用一次。")
	case errors.Is(err, store.ErrTokenExpired):
		return store.User{}, b, codeExpired()
	case err != nil:
		return store.User{}, b, err
	}
	u, err := s.store.UserByID(ctx, b.UserID)
	return u, b, err
}

// CheckFollowing asks WeChat, off the caller's path, whether a newly bound
// openid follows the account, so the dashboard knows before the first send.
func (s *Service) CheckFollowing(ctx context.Context, openid string) {
	if s.tokens == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	go func() {
		defer cancel()
		var f wechat.Follower
		err := s.tokens.Do(ctx, func(ctx context.Context, token string) error {
			var err error
			f, err = s.wx.Follower(ctx, token, openid)
			return err
		})
		if err != nil {
			s.log.Warn("follow check after binding", "err", err)
			return
		}
		if err := s.store.SetFollowing(ctx, openid, f.Subscribed, s.now()); err != nil {
			s.log.Warn("follow check after binding", "err", err)
		}
	}()
}

// RefreshFollowing asks WeChat which bound users follow the account
// (user/info/batchget) and records it; it returns how many were checked.
func (s *Service) RefreshFollowing(ctx context.Context) (int, error) {
	rcpts, err := s.store.Recipients(ctx, true, nil)
	if err != nil {
		return 0, err
	}
	if len(rcpts) == 0 {
		return 0, nil
	}
	openids := make([]string, len(rcpts))
	for i, rc := range rcpts {
		openids[i] = rc.OpenID
	}
	var fs []wechat.Follower
	err = s.tokens.Do(ctx, func(ctx context.Context, token string) error {
		var err error
		fs, err = s.wx.Followers(ctx, token, openids)
		return err
	})
	if err != nil {
		s.log.Warn("refresh following", "err", err)
		return 0, &Error{Code: EUpstream, Message: "刷新关注状态失败：" + ExplainWeChat(err), Err: err}
	}
	now := s.now()
	for _, f := range fs {
		if err := s.store.SetFollowing(ctx, f.OpenID, f.Subscribed, now); err != nil {
			return 0, err
		}
	}
	return len(fs), nil
}

// ExplainWeChat turns a WeChat call's failure into words for an admin.
func ExplainWeChat(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return fmt.Sprintf("%s（errcode %d：%s）", we.Explain(), we.Code, we.Msg)
	}
	return "无法连接微信服务器：" + err.Error()
}
