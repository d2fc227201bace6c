package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// accessToken is a global access token from /cgi-bin/token or
// /cgi-bin/stable_token (the two families are separate, docs/wechat.md §1).
type accessToken struct {
	value      string
	expires    time.Time
	superseded time.Time // zero while current; then valid tokenGrace longer
}

// end is when the token stops working, and the error it answers then.
func (t *accessToken) end() (time.Time, int) {
	if !t.superseded.IsZero() {
		if g := t.superseded.Add(tokenGrace); g.Before(t.expires) {
			return g, 40001
		}
	}
	return t.expires, 42001
}

func (s *Sandbox) mintLocked(now time.Time) *accessToken {
	t := &accessToken{value: randomToken(96), expires: now.Add(s.opts.TokenTTL)}
	s.tokens[t.value] = t
	s.gcTokensLocked(now)
	return t
}

// gcTokensLocked forgets tokens long dead, keeping memory bounded; a
// forgotten token answers 40014 instead of 40001/42001, as WeChat does for
// tokens it no longer knows.
func (s *Sandbox) gcTokensLocked(now time.Time) {
	for v, t := range s.tokens {
		if end, _ := t.end(); now.Sub(end) > 24*time.Hour {
			delete(s.tokens, v)
		}
	}
}

// checkCredentials validates appid and secret as the token endpoints do.
func (s *Sandbox) checkCredentials(appid, secret string) *wechat.Error {
	switch {
	case appid == "":
		return s.apiError(41002)
	case appid != s.opts.AppID:
		return s.apiError(40013)
	case secret == "":
		return s.apiError(41004)
	case secret != s.opts.AppSecret:
		return s.apiError(40125)
	}
	return nil
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleToken: GET /cgi-bin/token. Every call mints a new token; the
// previous one stays valid 5 more minutes (docs/wechat.md §1, docs/wechat-details.md §1.3).
func (s *Sandbox) handleToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		writeJSON(w, s.apiError(40002))
		return
	}
	if e := s.checkCredentials(q.Get("appid"), q.Get("secret")); e != nil {
		writeJSON(w, e)
		return
	}
	if e := s.checkWhitelist(r); e != nil { // whitelist.go
		writeJSON(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.changedLocked(recTokens)
	if !s.tokenDay.inc(now, tokenDailyLimit) {
		writeJSON(w, s.apiError(45009))
		return
	}
	if s.latest != nil && s.latest.superseded.IsZero() {
		s.latest.superseded = now
	}
	s.latest = s.mintLocked(now)
	s.stats.TokenFetches++
	writeJSON(w, tokenJSON{s.latest.value, int(s.opts.TokenTTL / time.Second)})
}

// handleStableToken: POST /cgi-bin/stable_token with a JSON body. The same
// token is returned while it has 300 s or more left; force_refresh rotates,
// at most 20 times a day and not twice within 30 s (docs/wechat.md §1, docs/wechat-details.md §1.2).
func (s *Sandbox) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, s.apiError(43002))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		writeJSON(w, s.apiError(44002))
		return
	}
	var body struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		writeJSON(w, s.apiError(47001))
		return
	}
	if body.GrantType != "client_credential" {
		writeJSON(w, s.apiError(40002))
		return
	}
	if e := s.checkCredentials(body.AppID, body.Secret); e != nil {
		writeJSON(w, e)
		return
	}
	if e := s.checkWhitelist(r); e != nil { // whitelist.go
		writeJSON(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.rivalLocked(now)
	cur := s.stable
	valid := cur != nil && cur.superseded.IsZero() && now.Before(cur.expires)
	rotate := !valid || cur.expires.Sub(now) < stableRotateAt
	if body.ForceRefresh && !rotate {
		switch {
		case !s.lastForce.IsZero() && now.Sub(s.lastForce) < forcedMinInterval:
			// Too soon after the last forced refresh: no refresh happens.
		case !s.forceDay.inc(now, forcedDailyLimit):
			writeJSON(w, s.apiError(45009))
			return
		default:
			rotate = true
			s.lastForce = now
		}
	}
	if rotate || body.ForceRefresh {
		s.changedLocked(recTokens)
	}
	if rotate {
		if valid {
			cur.superseded = now
		}
		s.stable = s.mintLocked(now)
	}
	left := s.stable.expires.Sub(now) / time.Second
	s.stats.StableTokenFetches++
	writeJSON(w, tokenJSON{s.stable.value, int(left)})
}

// checkAccessToken validates the access_token query parameter of an
// authenticated API call: missing 41001, unknown 40014, superseded beyond
// its 5-minute grace 40001, expired 42001 (docs/wechat.md §1, docs/wechat-details.md §0). Endpoints that
// need a global token call it first and write the error it returns.
func (s *Sandbox) checkAccessToken(r *http.Request) *wechat.Error {
	v := r.URL.Query().Get("access_token")
	if v == "" {
		return s.apiError(41001)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.tokenCodeLocked(v, s.opts.Now()); code != 0 {
		return s.apiError(code)
	}
	return nil
}

// tokenCodeLocked is checkAccessToken's verdict on a present token: 0 when
// it is usable at now, else the error code.
func (s *Sandbox) tokenCodeLocked(v string, now time.Time) int {
	s.rivalLocked(now)
	t, ok := s.tokens[v]
	if !ok {
		return 40014
	}
	if end, code := t.end(); !now.Before(end) {
		return code
	}
	return 0
}

// InvalidateTokens retires every global access token at once, as if WeChat
// had revoked them (fault injection): the next call with any of them
// answers 40001 and the app must fetch a new one.
func (s *Sandbox) InvalidateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.opts.Now().Add(-tokenGrace)
	for _, t := range s.tokens {
		t.superseded = past
	}
	s.latest, s.stable = nil, nil
	s.changedLocked(recTokens)
}

// handleAPIDomainIP: GET /cgi-bin/get_api_domain_ip, the simplest
// authenticated API; handy to check a token.
func (s *Sandbox) handleAPIDomainIP(w http.ResponseWriter, r *http.Request) {
	if e := s.checkAccessToken(r); e != nil {
		writeJSON(w, e)
		return
	}
	writeJSON(w, map[string][]string{"ip_list": {"127.0.0.1"}})
}
