package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/wechat"
)

// verifyServerURL answers WeChat's server-URL check: echo echostr when the
// signature over (token, timestamp, nonce) matches (§7) and the timestamp
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
