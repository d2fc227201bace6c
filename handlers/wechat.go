package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/wechat"
)

// verifyServerURL answers WeChat's server-URL check: echo echostr when the
// signature over (token, timestamp, nonce) matches (§7), else 403.
func (s *Server) verifyServerURL(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
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
