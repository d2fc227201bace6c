package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// maxEventBody caps a pushed message. WeChat's are a few KB; compatible
// mode roughly triples them (§8).
const maxEventBody = 64 << 10

// bindScenePrefix marks a parameterized QR code's scene as a binding token.
const bindScenePrefix = "bind_"

// receive handles what WeChat pushes to the server URL (§7): it checks the
// signature and the timestamp, decrypts in safe mode (§8), records the
// message once (WeChat retries), applies its effects and answers within
// WeChat's 5 seconds with "success" or a passive reply.
func (s *Server) receive(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return plainError(http.StatusForbidden, "bad timestamp")
	}
	if d := s.Now().Unix() - sec; d > int64(s.Config.EventWindow.Seconds()) || -d > int64(s.Config.EventWindow.Seconds()) {
		return plainError(http.StatusForbidden, "stale timestamp")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return plainError(http.StatusRequestEntityTooLarge, "body too large")
	}
	if err != nil {
		return plainError(http.StatusBadRequest, "unreadable body")
	}

	safe := q.Get("encrypt_type") == "aes"
	var msg wechat.Inbound
	if safe {
		if s.Config.Crypter == nil {
			s.logger(ctx).Warn("wechat push in safe mode, but WX_ENCODING_AES_KEY is not set")
			return plainError(http.StatusBadRequest, "safe mode is not configured")
		}
		env, err := wechat.ParseInbound(body)
		if err != nil || env.Encrypt == "" {
			return plainError(http.StatusBadRequest, "malformed XML")
		}
		if !s.Config.Crypter.Verify(ts, nonce, env.Encrypt, q.Get("msg_signature")) {
			return plainError(http.StatusForbidden, "invalid msg_signature")
		}
		plain, err := s.Config.Crypter.Decrypt(env.Encrypt)
		if errors.Is(err, wechat.ErrAppIDMismatch) {
			s.logger(ctx).Warn("wechat push encrypted for another appid")
			return plainError(http.StatusForbidden, "appid mismatch")
		}
		if err != nil {
			return plainError(http.StatusBadRequest, "cannot decrypt")
		}
		if msg, err = wechat.ParseInbound(plain); err != nil {
			return plainError(http.StatusBadRequest, "malformed XML")
		}
	} else {
		if s.Config.WXToken == "" || !wechat.VerifySignature(s.Config.WXToken, ts, nonce, q.Get("signature")) {
			return plainError(http.StatusForbidden, "invalid signature")
		}
		if s.Config.Crypter != nil {
			return s.plaintextRefused(ctx)
		}
		if msg, err = wechat.ParseInbound(body); err != nil {
			return plainError(http.StatusBadRequest, "malformed XML")
		}
	}
	if msg.FromUserName == "" || msg.MsgType == "" || msg.CreateTime == 0 {
		return plainError(http.StatusBadRequest, "missing FromUserName, MsgType or CreateTime")
	}

	dup, err := s.Store.IngestInbound(ctx, toStoreInbound(msg))
	if err != nil {
		return err // 500: WeChat retries
	}
	reply := ""
	if !dup {
		reply = s.react(ctx, msg)
	}
	if reply == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("success"))
		return nil
	}
	out := wechat.TextReply(msg.FromUserName, msg.ToUserName, s.Now().Unix(), reply)
	if safe {
		if out, err = s.Config.Crypter.EncryptReply(out, ts, nonce); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(out)
	return nil
}

// plainError answers WeChat's servers (and anyone probing) in plain text.
func plainError(status int, msg string) error {
	return &httpError{Status: status, Msg: msg, Plain: true}
}

func toStoreInbound(m wechat.Inbound) store.Inbound {
	in := store.Inbound{
		DedupKey: m.DedupKey(), OpenID: m.FromUserName, MsgType: m.MsgType, Event: m.Event,
		EventKey: m.EventKey, Content: m.Content, CreatedAt: unixTime(m.CreateTime), TemplateMsgID: m.TemplateMsgID,
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
func (s *Server) react(ctx context.Context, m wechat.Inbound) string {
	if scene := m.Scene(); strings.HasPrefix(scene, bindScenePrefix) {
		return s.bindByScene(ctx, m.FromUserName, strings.TrimPrefix(scene, bindScenePrefix))
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
			return "请在电脑上登录 " + s.Config.BaseURL.JoinPath("/bind").String() +
				" ，用微信扫描页面上的二维码，即可把这个微信绑定到你的账号。"
		case "状态":
			if name, ok := s.boundName(ctx, m.FromUserName); ok {
				return fmt.Sprintf("这个微信已绑定账号「%s」。", name)
			}
			return "这个微信还没有绑定账号。回复「绑定」了解如何绑定。"
		}
		return s.Config.AutoReply
	}
	return ""
}

func (s *Server) boundName(ctx context.Context, openid string) (string, bool) {
	u, err := s.Store.UserByOpenID(ctx, openid)
	if err != nil {
		return "", false
	}
	return u.Name, true
}

// bindByScene completes a one-scan binding: the scene of the parameterized
// QR code is the one-time token of the account that showed it (§3).
func (s *Server) bindByScene(ctx context.Context, openid, token string) string {
	if !validState.MatchString(token) {
		return "二维码无效，请在网页上刷新后重新扫码。"
	}
	b, err := s.Store.CompleteBinding(ctx, token, store.Binding{OpenID: openid})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "二维码无效，请在网页上刷新后重新扫码。"
	case errors.Is(err, store.ErrTokenExpired):
		return "二维码已过期，请在网页上点击「刷新二维码」后重新扫码。"
	case errors.Is(err, store.ErrTokenUsed):
		return "这个二维码已经用过了。如需重新绑定，请在网页上生成新的二维码。"
	case errors.Is(err, store.ErrOpenIDTaken):
		return "这个微信已经绑定了本站的另一个账号。一个微信只能绑定一个账号：请先在那个账号里解除绑定。"
	case err != nil:
		s.logger(ctx).Error("bind by scene", "err", err)
		return "绑定失败，请稍后重试。"
	}
	u, err := s.Store.UserByID(ctx, b.UserID)
	if err != nil {
		s.logger(ctx).Error("bind by scene: user", "err", err)
		return "已绑定。"
	}
	s.logger(ctx).Info("bound by scan", "user", u.PublicID, "openid", wechat.MaskOpenID(openid))
	return fmt.Sprintf("已绑定账号「%s」。之后的通知会推送到这个微信。", u.Name)
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
