package sandbox

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/wxpush/wxpush/wechat"
)

// userCookie remembers the last simulated user chosen on the OAuth page so
// the next visit preselects it.
const userCookie = "wxpush_sandbox_openid"

// authRequest is a validated /connect/oauth2/authorize query.
type authRequest struct {
	RedirectURI, Scope, State string
}

// authError is what WeChat's error page shows. Code 0: WeChat documents no
// code for that case.
type authError struct {
	Code int
	Msg  string
}

// parseAuthorize validates the authorize parameters like WeChat does (docs/wechat.md §2,
// docs/wechat-details.md §2.1); the codes are the documented 100xx page codes.
func (s *Sandbox) parseAuthorize(q url.Values) (authRequest, *authError) {
	a := authRequest{RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"), State: q.Get("state")}
	switch appid := q.Get("appid"); {
	case appid == "":
		return a, &authError{10012, "appid不能为空"}
	case appid != s.opts.AppID:
		return a, &authError{40013, "appid无效，请检查链接中的appid参数"}
	}
	if a.RedirectURI == "" {
		return a, &authError{10011, "redirect_uri不能为空"}
	}
	u, err := url.Parse(a.RedirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return a, &authError{10003, "redirect_uri域名与后台配置不一致"}
	}
	if d := s.opts.RedirectDomain; d != "" && !sameHost(u, d) {
		return a, &authError{10003, "redirect_uri域名与后台配置不一致"}
	}
	if q.Get("response_type") != "code" {
		return a, &authError{0, "response_type参数错误，应为code"}
	}
	switch a.Scope {
	case "":
		return a, &authError{10010, "scope不能为空"}
	case wechat.ScopeBase, wechat.ScopeUserInfo:
	default:
		return a, &authError{10005, "此公众号并没有这些scope的权限"}
	}
	if !validState(a.State) {
		return a, &authError{0, "state参数错误：最多128字节，只能包含a-zA-Z0-9"}
	}
	return a, nil
}

// sameHost compares the redirect_uri's host with the configured domain; a
// domain without a port matches the host name alone.
func sameHost(u *url.URL, domain string) bool {
	if strings.Contains(domain, ":") {
		return strings.EqualFold(u.Host, domain)
	}
	return strings.EqualFold(u.Hostname(), domain)
}

// validState: up to 128 bytes of [a-zA-Z0-9] (docs/wechat.md §2). Empty is allowed; SDKs
// omit it.
func validState(st string) bool {
	if len(st) > 128 {
		return false
	}
	for _, c := range []byte(st) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// redirectTo builds redirect_uri?code=CODE&state=STATE (code omitted when
// the user refused, docs/wechat.md §2), appending to an existing query and keeping any
// fragment last.
func redirectTo(redirectURI, code, state string) string {
	base, frag, hasFrag := strings.Cut(redirectURI, "#")
	var b strings.Builder
	b.WriteString(base)
	switch {
	case !strings.Contains(base, "?"):
		b.WriteByte('?')
	case !strings.HasSuffix(base, "?") && !strings.HasSuffix(base, "&"):
		b.WriteByte('&')
	}
	if code != "" {
		b.WriteString("code=" + url.QueryEscape(code) + "&")
	}
	b.WriteString("state=" + url.QueryEscape(state))
	if hasFrag {
		b.WriteString("#" + frag)
	}
	return b.String()
}

func (s *Sandbox) authAction(r *http.Request) string {
	return s.opts.PathPrefix + "/connect/oauth2/authorize?" + r.URL.RawQuery
}

// handleAuthorize: GET /connect/oauth2/authorize shows, as the phone would,
// either WeChat's error page or the user chooser (the sandbox's stand-in for
// "who is holding the phone").
func (s *Sandbox) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	a, aerr := s.parseAuthorize(r.URL.Query())
	if aerr != nil {
		s.render(w, r, http.StatusBadRequest, authErrorPage(s.layout(), *aerr))
		return
	}
	if u, ok := s.holder(r); ok {
		// Inside the phone's browser WeChat knows who holds the phone:
		// snsapi_base is silent, snsapi_userinfo asks that user (docs/wechat.md §2).
		if a.Scope == wechat.ScopeBase {
			http.Redirect(w, r, redirectTo(a.RedirectURI, s.issueCode(u.OpenID, a.Scope), a.State), http.StatusFound)
			return
		}
		s.render(w, r, http.StatusOK, consentPage(s.layout(), consentView{Action: s.authAction(r), AppID: s.opts.AppID, User: u}))
		return
	}
	s.renderChooser(w, r, a, s.rememberedUser(r), "", http.StatusOK)
}

// rememberUser sets the cookie that preselects the user next time.
func (s *Sandbox) rememberUser(w http.ResponseWriter, openid string) {
	http.SetCookie(w, &http.Cookie{
		Name: userCookie, Value: openid, Path: s.opts.PathPrefix + "/",
		MaxAge: 30 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// rememberedUser is the openid of the cookie, if that user exists.
func (s *Sandbox) rememberedUser(r *http.Request) string {
	if c, err := r.Cookie(userCookie); err == nil {
		if _, ok := s.User(c.Value); ok {
			return c.Value
		}
	}
	return ""
}

func (s *Sandbox) renderChooser(w http.ResponseWriter, r *http.Request, a authRequest, selected, problem string, status int) {
	users := s.Users()
	if selected == "" && len(users) > 0 {
		selected = users[0].OpenID
	}
	v := chooseView{
		Action:   s.authAction(r),
		AppID:    s.opts.AppID,
		Scope:    a.Scope,
		Users:    users,
		Selected: selected,
		Problem:  problem,
	}
	s.render(w, r, status, choosePage(s.layout(), v))
}

// handleAuthorizePost handles the page's buttons: step=choose (a user was
// picked or created), then for snsapi_userinfo step=allow or step=deny on
// the consent prompt. The authorize parameters travel in the form's URL
// and are validated again.
func (s *Sandbox) handleAuthorizePost(w http.ResponseWriter, r *http.Request) {
	a, aerr := s.parseAuthorize(r.URL.Query())
	if aerr != nil {
		s.render(w, r, http.StatusBadRequest, authErrorPage(s.layout(), *aerr))
		return
	}
	switch r.PostFormValue("step") {
	case "choose":
		var u User
		if n := strings.TrimSpace(r.PostFormValue("nickname")); n != "" {
			u = s.AddUser(n)
		} else if found, ok := s.User(r.PostFormValue("openid")); ok {
			u = found
		} else {
			s.renderChooser(w, r, a, "", "请选择一个用户，或输入昵称新建用户", http.StatusBadRequest)
			return
		}
		s.rememberUser(w, u.OpenID)
		if a.Scope == wechat.ScopeBase {
			// snsapi_base is silent: straight back with a code (docs/wechat.md §2).
			http.Redirect(w, r, redirectTo(a.RedirectURI, s.issueCode(u.OpenID, a.Scope), a.State), http.StatusFound)
			return
		}
		v := consentView{Action: s.authAction(r), AppID: s.opts.AppID, User: u}
		s.render(w, r, http.StatusOK, consentPage(s.layout(), v))
	case "allow":
		u, ok := s.User(r.PostFormValue("openid"))
		if !ok {
			s.renderChooser(w, r, a, "", "请选择一个用户，或输入昵称新建用户", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, redirectTo(a.RedirectURI, s.issueCode(u.OpenID, a.Scope), a.State), http.StatusFound)
	case "deny":
		// Refusal: back with state only, no code (docs/wechat.md §2).
		http.Redirect(w, r, redirectTo(a.RedirectURI, "", a.State), http.StatusFound)
	default:
		s.renderChooser(w, r, a, "", "", http.StatusBadRequest)
	}
}
