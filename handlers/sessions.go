package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// The account page's 登录设备 section: the user's sessions, and ending
// one or all the others.

// sessionRows lists the user's sessions for the account page, marking the
// one of this request.
func (s *Server) sessionRows(r *http.Request, u store.User) ([]views.SessionRow, error) {
	cur, err := s.Sessions.Current(r)
	if err != nil && !errors.Is(err, errNoSession) {
		return nil, err
	}
	list, err := s.Store.UserSessions(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	rows := make([]views.SessionRow, 0, len(list))
	for _, se := range list {
		row := views.SessionRow{ID: se.ID, Browser: browserLabel(se.UserAgent), IP: se.IP,
			Created: s.fmtTime(se.CreatedAt), LastSeen: s.fmtTime(se.LastSeenAt), Current: se.ID == cur.ID}
		if row.Current {
			// This very request is the latest activity, whatever the
			// once-a-minute write says.
			row.LastSeen = "刚刚"
			rows = append([]views.SessionRow{row}, rows...)
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// endOneSession ends one of the user's sessions (the 退出 button of a row).
// Another user's session id answers 404, as an unknown one does.
func (s *Server) endOneSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errorf(http.StatusBadRequest, "参数错误", "无效的设备编号。")
	}
	cur, err := s.Sessions.Current(r)
	if err != nil {
		return err
	}
	err = s.Store.EndUserSession(ctx, u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "设备不存在", "这个登录设备不存在或已经退出。")
	}
	if err != nil {
		return err
	}
	s.logger(ctx).Info("session ended", "user", u.PublicID, "session", id)
	if id == cur.ID {
		// Ending this very browser's session is signing out.
		return s.logout(w, r)
	}
	s.redirectFlash(w, r, "/#sessions", Flash{Notice: "已退出该设备。"})
	return nil
}

// endOtherSessions ends every session of the user but this browser's.
func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	cur, err := s.Sessions.Current(r)
	if err != nil {
		return err
	}
	n, err := s.Store.EndOtherSessions(ctx, u.ID, cur.ID)
	if err != nil {
		return err
	}
	s.logger(ctx).Info("other sessions ended", "user", u.PublicID, "count", n)
	s.redirectFlash(w, r, "/#sessions", Flash{Notice: "已退出其他所有设备。"})
	return nil
}

// browserLabel describes a user agent in a few words: "Chrome · Windows",
// "微信 · iPhone". Hand-written rather than a parsing library: the one the
// module mirror offers (medama-io/go-useragent) builds a 5 MiB trie for
// this label, and knows neither WeChat's built-in browser nor QQ's, which
// are what this site's users scan with.
func browserLabel(ua string) string {
	if ua == "" {
		return "未知浏览器"
	}
	has := func(s string) bool { return strings.Contains(ua, s) }
	var browser string
	switch {
	case has("MicroMessenger/"):
		browser = "微信"
	case has("MQQBrowser/") || has("QQ/"):
		browser = "QQ 浏览器"
	case has("Edg/") || has("EdgA/") || has("EdgiOS/"):
		browser = "Edge"
	case has("OPR/"):
		browser = "Opera"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("CriOS/") || has("Chrome/") || has("Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	case !strings.HasPrefix(ua, "Mozilla/"):
		// A program: its product name, e.g. "curl" of "curl/8.5.0".
		name, _, _ := strings.Cut(ua, "/")
		name, _, _ = strings.Cut(name, " ")
		return name
	default:
		browser = "未知浏览器"
	}
	var os string
	switch {
	case has("iPhone"):
		os = "iPhone"
	case has("iPad"):
		os = "iPad"
	case has("HarmonyOS") || has("OpenHarmony"): // before Android: HarmonyOS up to 4 says both
		os = "鸿蒙"
	case has("Android"):
		os = "Android"
	case has("Windows"):
		os = "Windows"
	case has("Mac OS X") || has("Macintosh"):
		os = "macOS"
	case has("CrOS"):
		os = "ChromeOS"
	case has("Linux"):
		os = "Linux"
	default:
		return browser
	}
	return browser + " · " + os
}
