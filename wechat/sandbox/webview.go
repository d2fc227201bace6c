package sandbox

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// The phone's browser. In WeChat, tapping a template card's 详情, a link
// in a text message, or a scanned link opens the page in WeChat's own
// browser, inside the chat app — where web authorization with
// snsapi_base is silent: WeChat knows who holds the phone. The simulated
// phone opens such pages in a frame of its own (GET
// /phone/{openid}/web?url=…) and marks that frame's requests with a
// cookie naming the phone's user, so that the emulated authorization page
// knows the holder too. Browsers tell a frame's requests by
// Sec-Fetch-Dest: iframe, so the marker acts only inside the phone.

// InAppCookie names the phone's user in requests made inside the phone's
// browser frame. The app, in sandbox mode, treats a framed request that
// carries it as WeChat's in-app browser (whose user agent says
// MicroMessenger).
const InAppCookie = "wxpush_sandbox_inapp"

// InFrame reports whether r comes from the phone's browser frame: the
// marker cookie on a request the browser says is for an iframe. Browsers
// send Sec-Fetch-Dest only to trustworthy origins (HTTPS, localhost);
// without the header, the cookie alone decides.
func InFrame(r *http.Request) (openid string, ok bool) {
	c, err := r.Cookie(InAppCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "iframe" {
		return "", false
	}
	return c.Value, true
}

// holder is the simulated user holding the phone whose browser frame r
// comes from, if any.
func (s *Sandbox) holder(r *http.Request) (User, bool) {
	openid, ok := InFrame(r)
	if !ok {
		return User{}, false
	}
	return s.User(openid)
}

type webView struct {
	User User
	URL  string
}

// handleWebView: GET /phone/{openid}/web?url=… shows a page in the phone's
// browser: WeChat's bar (close, the page's address) over a frame.
func (s *Sandbox) handleWebView(w http.ResponseWriter, r *http.Request) {
	u, ok := s.User(r.PathValue("openid"))
	if !ok {
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
		return
	}
	target := strings.TrimSpace(r.URL.Query().Get("url"))
	if !webURL(target) {
		s.render(w, r, http.StatusBadRequest, notFoundPage(s.layout(), "无法打开这个链接"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: InAppCookie, Value: u.OpenID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.rememberUser(w, u.OpenID)
	s.render(w, r, http.StatusOK, webViewPage(s.layout(), webView{User: u, URL: target}))
}

// handleOpenLink: POST /phone/{openid}/open, the phone opening a link it
// was given (a scanned QR code, a pasted address).
func (s *Sandbox) handleOpenLink(w http.ResponseWriter, r *http.Request) {
	target := strings.TrimSpace(r.PostFormValue("url"))
	if !webURL(target) {
		s.renderPhone(w, r, http.StatusBadRequest, "请输入以 http:// 或 https:// 开头的链接")
		return
	}
	http.Redirect(w, r, s.webViewURL(r.PathValue("openid"), target), http.StatusSeeOther)
}

func (s *Sandbox) webViewURL(openid, target string) string {
	return webViewURL(s.layout(), openid, target)
}

// webViewURL opens target in the phone's browser.
func webViewURL(p page, openid, target string) string {
	return p.Prefix + "/phone/" + url.PathEscape(openid) + "/web?url=" + url.QueryEscape(target)
}

func webURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// textPart is a piece of a text message as the chat shows it: words, or a
// link (text content may hold <a href="…">…</a>, docs/wechat.md
// "Customer-service message").
type textPart struct {
	Text string
	URL  string // "" for plain words
}

var anchorRE = regexp.MustCompile(`(?is)<a\s+href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>`)

// textParts splits a text message into words and links; only http(s)
// links become tappable, anything else stays as written.
func textParts(content string) []textPart {
	var out []textPart
	last := 0
	for _, m := range anchorRE.FindAllStringSubmatchIndex(content, -1) {
		href, label := content[m[2]:m[3]], content[m[4]:m[5]]
		if !webURL(href) {
			continue
		}
		if m[0] > last {
			out = append(out, textPart{Text: content[last:m[0]]})
		}
		out = append(out, textPart{Text: label, URL: href})
		last = m[1]
	}
	if last < len(content) {
		out = append(out, textPart{Text: content[last:]})
	}
	return out
}
