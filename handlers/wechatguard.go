package handlers

import (
	"context"
	"net/http"
	"strconv"
)

// plaintextRefused answers a push that came without encrypt_type=aes
// while an EncodingAESKey is configured. In plaintext the signature covers
// only token, timestamp and nonce, not the body: one signed URL seen in a
// proxy's access log would let anyone post any message, a binding to any
// account included, for as long as the timestamp is fresh. WeChat sends
// encrypt_type=aes in both 安全模式 and 兼容模式 (WeChat's 消息推送
// documentation, 消息加解密说明), so with a key configured nothing it
// sends needs the plaintext path.
func (s *Server) plaintextRefused(ctx context.Context) error {
	s.logger(ctx).Warn("wechat push refused: plaintext, but WX_ENCODING_AES_KEY is set; " +
		"set 消息加解密方式 to 安全模式 or 兼容模式 in the WeChat console, or unset WX_ENCODING_AES_KEY")
	return plainError(http.StatusForbidden, "plaintext push refused: an EncodingAESKey is configured, so only "+
		"encrypted pushes (encrypt_type=aes) are accepted; set 消息加解密方式 to 安全模式 or 兼容模式 in the WeChat console")
}

// freshTimestamp refuses a WeChat request whose timestamp is more than
// EventWindow away from now, as receive does for pushes: a signed URL
// replayed later is refused.
func (s *Server) freshTimestamp(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return plainError(http.StatusForbidden, "bad timestamp")
	}
	window := int64(s.Config.EventWindow.Seconds())
	if d := s.Now().Unix() - sec; d > window || -d > window {
		return plainError(http.StatusForbidden, "stale timestamp")
	}
	return nil
}
