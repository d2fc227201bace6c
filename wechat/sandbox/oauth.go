package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

type oauthCode struct {
	openid, scope string
	expires       time.Time
	used          bool
}

// webToken is a web-authorization (sns) access token.
type webToken struct {
	openid, scope string
	expires       time.Time
}

type refreshToken struct {
	openid, scope string
	expires       time.Time
}

// issueCode records a fresh OAuth code for openid; single use, CodeTTL (docs/wechat.md §2).
func (s *Sandbox) issueCode(openid, scope string) string {
	code := randomToken(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for c, v := range s.codes {
		if now.Sub(v.expires) > time.Hour {
			delete(s.codes, c)
		}
	}
	s.codes[code] = &oauthCode{openid: openid, scope: scope, expires: now.Add(s.opts.CodeTTL)}
	s.changedLocked(recOAuth)
	return code
}

type snsTokenJSON struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
}

// mintWebTokenLocked issues an sns access token (and keeps refresh).
func (s *Sandbox) mintWebTokenLocked(now time.Time, openid, scope, refresh string) snsTokenJSON {
	for v, t := range s.webTokens {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(s.webTokens, v)
		}
	}
	s.changedLocked(recOAuth)
	t := randomToken(72)
	s.webTokens[t] = &webToken{openid: openid, scope: scope, expires: now.Add(s.opts.TokenTTL)}
	return snsTokenJSON{t, int(s.opts.TokenTTL / time.Second), refresh, openid, scope}
}

// handleSNSAccessToken: GET /sns/oauth2/access_token exchanges a code
// (docs/wechat-details.md §2.2). No unionid: the sandbox has no open-platform account.
func (s *Sandbox) handleSNSAccessToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := s.checkCredentials(q.Get("appid"), q.Get("secret")); e != nil {
		writeSNS(w, e)
		return
	}
	code := q.Get("code")
	if code == "" {
		writeSNS(w, s.apiError(41008))
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		writeSNS(w, s.apiError(40002))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	c, ok := s.codes[code]
	switch {
	case !ok || !now.Before(c.expires):
		writeSNS(w, s.apiError(40029))
		return
	case c.used:
		writeSNS(w, s.apiError(40163))
		return
	}
	c.used = true
	// Refresh tokens dead for a day are forgotten (then 40030 instead of
	// 42002), like access tokens, so the state stays bounded.
	for v, t := range s.refreshes {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(s.refreshes, v)
		}
	}
	refresh := randomToken(72)
	s.refreshes[refresh] = &refreshToken{openid: c.openid, scope: c.scope, expires: now.Add(refreshTokenTTL)}
	writeSNS(w, s.mintWebTokenLocked(now, c.openid, c.scope, refresh))
}

// handleSNSRefresh: GET /sns/oauth2/refresh_token (docs/wechat-details.md §2.3).
func (s *Sandbox) handleSNSRefresh(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch appid := q.Get("appid"); {
	case appid == "":
		writeSNS(w, s.apiError(41002))
		return
	case appid != s.opts.AppID:
		writeSNS(w, s.apiError(40013))
		return
	case q.Get("grant_type") != "refresh_token":
		writeSNS(w, s.apiError(40002))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	rt, ok := s.refreshes[q.Get("refresh_token")]
	switch {
	case !ok:
		writeSNS(w, s.apiError(40030))
		return
	case !now.Before(rt.expires):
		writeSNS(w, s.apiError(42002))
		return
	}
	writeSNS(w, s.mintWebTokenLocked(now, rt.openid, rt.scope, q.Get("refresh_token")))
}

// checkWebToken validates an sns access token for openid: missing 41001,
// unknown 40001, expired 42001, another user's openid 40003.
func (s *Sandbox) checkWebToken(q url.Values) (*webToken, *wechat.Error) {
	v := q.Get("access_token")
	if v == "" {
		return nil, s.apiError(41001)
	}
	openid := q.Get("openid")
	if openid == "" {
		return nil, s.apiError(41009)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.webTokens[v]
	switch {
	case !ok:
		return nil, s.apiError(40001)
	case !s.opts.Now().Before(t.expires):
		return nil, s.apiError(42001)
	case t.openid != openid:
		return nil, s.apiError(40003)
	}
	return t, nil
}

// handleSNSUserInfo: GET /sns/userinfo (docs/wechat.md §2, docs/wechat-details.md §2.4). Needs a
// snsapi_userinfo token (else 48001); post-2021 sex is 0 and the region
// fields are empty.
func (s *Sandbox) handleSNSUserInfo(w http.ResponseWriter, r *http.Request) {
	t, e := s.checkWebToken(r.URL.Query())
	if e != nil {
		writeSNS(w, e)
		return
	}
	if t.scope != wechat.ScopeUserInfo {
		writeSNS(w, s.apiError(48001))
		return
	}
	u, ok := s.User(t.openid)
	if !ok {
		writeSNS(w, s.apiError(40003))
		return
	}
	writeSNS(w, map[string]any{
		"openid":     u.OpenID,
		"nickname":   u.Nickname,
		"sex":        0,
		"language":   "",
		"city":       "",
		"province":   "",
		"country":    "",
		"headimgurl": absoluteURL(r, u.HeadImgURL),
		"privilege":  []string{},
	})
}

// handleSNSAuth: GET /sns/auth checks a web token (docs/wechat-details.md §2.5).
func (s *Sandbox) handleSNSAuth(w http.ResponseWriter, r *http.Request) {
	if _, e := s.checkWebToken(r.URL.Query()); e != nil {
		writeSNS(w, e)
		return
	}
	writeSNS(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// absoluteURL makes a sandbox path absolute using the request's host, since
// real headimgurl values are absolute.
func absoluteURL(r *http.Request, p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + p
}
