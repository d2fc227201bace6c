package handlers

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// wechatUser is a binding's WeChat as pages show it: nickname and avatar
// when WeChat gave them, and the masked openid.
func (s *Server) wechatUser(b store.Binding) views.WeChatUser {
	return views.WeChatUser{OpenID: wechat.MaskOpenID(b.OpenID), Nickname: b.Nickname, AvatarURL: s.avatarURL(b.AvatarURL)}
}

// avatarURL is an avatar the pages may show: WeChat's (…qlogo.cn, which
// the Content-Security-Policy allows; an http one is asked for over
// https), or one of this site's own (the sandbox's). Anything else —
// another host, another scheme — is not shown.
func (s *Server) avatarURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case (u.Scheme == "https" || u.Scheme == "http") && (host == "qlogo.cn" || strings.HasSuffix(host, ".qlogo.cn")):
		u.Scheme = "https"
		return u.String()
	case (u.Scheme == "https" || u.Scheme == "http") && s.Config.BaseURL != nil && strings.EqualFold(u.Host, s.Config.BaseURL.Host):
		return u.String()
	}
	return ""
}

// durationWords says how long something lasts: "10 分钟", "1 小时 30 分钟",
// "2 秒".
func durationWords(d time.Duration) string {
	d = d.Round(time.Second)
	var parts []string
	if h := d / time.Hour; h > 0 {
		parts = append(parts, fmt.Sprintf("%d 小时", h))
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		parts = append(parts, fmt.Sprintf("%d 分钟", m))
	}
	if sec := d % time.Minute / time.Second; sec > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d 秒", sec))
	}
	return strings.Join(parts, " ")
}
