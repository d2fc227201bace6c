package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// HandleInbound applies a message or event WeChat pushed to the server URL
// (already authenticated and decrypted by the adapter): it is recorded
// once — WeChat retries unanswered pushes — and its effects follow (follow
// state, the customer-service window and template receipts in the store;
// one-scan binding; keyword answers). It returns the passive reply to send
// back, "" for none. An error means nothing was recorded: WeChat should
// retry.
func (s *Service) HandleInbound(ctx context.Context, m wechat.Inbound) (string, error) {
	dup, err := s.store.IngestInbound(ctx, toStoreInbound(m))
	if err != nil || dup {
		return "", err
	}
	return s.react(ctx, m), nil
}

func toStoreInbound(m wechat.Inbound) store.Inbound {
	in := store.Inbound{
		DedupKey: m.DedupKey(), OpenID: m.FromUserName, MsgType: m.MsgType, Event: m.Event,
		EventKey: m.EventKey, Content: m.Content, CreatedAt: time.Unix(m.CreateTime, 0).UTC(), TemplateMsgID: m.TemplateMsgID,
	}
	if m.Event == "TEMPLATESENDJOBFINISH" {
		switch {
		case m.Status == "success":
			in.Receipt = store.ReceiptDelivered
		case strings.Contains(m.Status, "user block"):
			in.Receipt = store.ReceiptBlocked
		default:
			in.Receipt = store.ReceiptSysFailed
		}
	}
	return in
}

// react decides the passive reply to a new message or event ("" for none).
func (s *Service) react(ctx context.Context, m wechat.Inbound) string {
	if scene := m.Scene(); strings.HasPrefix(scene, BindScenePrefix) {
		return s.bindByScene(ctx, m.FromUserName, strings.TrimPrefix(scene, BindScenePrefix))
	}
	switch {
	case m.MsgType == "event" && m.Event == "subscribe":
		if name, ok := s.boundName(ctx, m.FromUserName); ok {
			return fmt.Sprintf("欢迎回来！这个微信已绑定账号「%s」，通知会推送到这里。", name)
		}
		return "感谢关注！回复「绑定」了解如何把这个微信绑定到你的账号。"
	case m.MsgType == "text":
		switch strings.TrimSpace(m.Content) {
		case "绑定":
			return "请在电脑上登录 " + s.cfg.BaseURL.JoinPath("/bind").String() +
				" ，用微信扫描页面上的二维码，即可把这个微信绑定到你的账号。"
		case "状态":
			return s.statusReply(ctx, m.FromUserName)
		case "解绑":
			return s.unbindByWeChat(ctx, m.FromUserName)
		}
		return s.cfg.AutoReply
	}
	return ""
}

func (s *Service) boundName(ctx context.Context, openid string) (string, bool) {
	u, err := s.store.UserByOpenID(ctx, openid)
	if err != nil {
		return "", false
	}
	return u.Name, true
}

// bindByScene completes a one-scan binding: the scene of the parameterized
// QR code is the one-time token of the account that showed it. The reply
// tells the scanning user what happened.
func (s *Service) bindByScene(ctx context.Context, openid, token string) string {
	if !validToken.MatchString(token) {
		return "二维码无效，请在网页上刷新后重新扫码。"
	}
	u, b, err := s.completeBinding(ctx, token, store.Binding{OpenID: openid})
	if err != nil && b.UserID != 0 {
		// Bound; only reading the account's name failed.
		s.log.Error("bind by scene: user", "err", err)
		return "已绑定。"
	}
	if err != nil {
		e := AsError(err)
		switch e.Reason {
		case ReasonCodeInvalid:
			return "二维码无效，请在网页上刷新后重新扫码。"
		case ReasonCodeExpired:
			return "二维码已过期，请在网页上点击「刷新二维码」后重新扫码。"
		case ReasonCodeUsed:
			return "这个二维码已经用过了。如需重新绑定，请在网页上生成新的二维码。"
		case ReasonOpenIDTaken:
			return "这个微信已经绑定了本站的另一个账号。一个微信只能绑定一个账号：请先在那个账号里解除绑定。"
		}
		s.log.Error("bind by scene", "err", err)
		return "绑定失败，请稍后重试。"
	}
	s.log.Info("bound by scan", "user", u.PublicID, "openid", wechat.MaskOpenID(openid))
	// Someone may have shown this WeChat's owner their own code to scan:
	// say whose account it now is, and how to undo it in one reply.
	return fmt.Sprintf("已绑定账号「%s」。之后的通知会推送到这个微信。如非本人操作，请回复「解绑」。", u.Name)
}
