package wechat

import (
	"net/netip"
	"regexp"
)

// invalidIP finds the caller's address in a 40164 errmsg: "invalid ip
// 182.150.41.147 ipv6 ::ffff:182.150.41.147, not in whitelist rid: …"
// (docs/wechat.md, "Error codes").
var invalidIP = regexp.MustCompile(`invalid ip ([0-9A-Fa-f:.]+)`)

// CallerIP is the IP address WeChat saw the call come from, which a 40164
// (IP not in the whitelist) names; "" for other errors.
func (e *Error) CallerIP() string {
	if e.Code != 40164 {
		return ""
	}
	m := invalidIP.FindStringSubmatch(e.Msg)
	if m == nil {
		return ""
	}
	ip, err := netip.ParseAddr(m[1])
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
}
