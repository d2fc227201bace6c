package handlers

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/wxpush/wxpush/wechat"
)

// maxEventBody caps a pushed message. WeChat's are a few KB; compatible
// mode roughly triples them (docs/wechat.md, "Safe mode").
const maxEventBody = 64 << 10

// receive handles what WeChat pushes to the server URL (docs/wechat.md,
// "Server URL"): it checks the signature and the timestamp, decrypts in safe
// mode, hands the message to the use case (recorded once, effects applied)
// and answers within WeChat's 5 seconds with "success" or a passive reply.
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

	reply, err := s.App.HandleInbound(ctx, msg)
	if err != nil {
		return err // 500: WeChat retries
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

// verifyServerURL answers WeChat's server-URL check: echo echostr when the
// signature over (token, timestamp, nonce) matches (docs/wechat.md, "Server URL") and the timestamp
// is within EventWindow of now, else 403.
func (s *Server) verifyServerURL(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := s.freshTimestamp(q.Get("timestamp")); err != nil {
		s.logger(r.Context()).Warn("wechat server verification: timestamp missing or off by more than the window")
		return err
	}
	if s.Config.WXToken == "" ||
		!wechat.VerifySignature(s.Config.WXToken, q.Get("timestamp"), q.Get("nonce"), q.Get("signature")) {
		s.logger(r.Context()).Warn("wechat server verification: bad signature")
		http.Error(w, "invalid signature", http.StatusForbidden)
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(q.Get("echostr")))
	return nil
}

// plainError answers WeChat's servers (and anyone probing) in plain text.
func plainError(status int, msg string) error {
	return &Error{Status: status, Code: defaultCodes[status], Message: msg}
}
