package sandbox

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// checkWhitelist refuses a token request from an IP outside
// Faults.IPWhitelist with 40164, whose errmsg names the caller's IP as
// WeChat's does ("invalid ip 182.150.41.147 ipv6 ::ffff:182.150.41.147,
// not in whitelist", as captured from WeChat in docs/wechat.md).
func (s *Sandbox) checkWhitelist(r *http.Request) *wechat.Error {
	list, _ := parseWhitelist(s.faults.Load().IPWhitelist)
	if len(list) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return s.apiErrorMsg(40164, "invalid ip "+host+", not in whitelist")
	}
	ip = ip.Unmap()
	for _, a := range list {
		if w, err := netip.ParseAddr(a); err == nil && w.Unmap() == ip {
			return nil
		}
	}
	v6 := netip.AddrFrom16(ip.As16()).String()
	if ip.Is6() {
		v6 = ip.String()
	}
	return s.apiErrorMsg(40164, "invalid ip "+ip.String()+" ipv6 "+v6+", not in whitelist")
}

// parseWhitelist reads the fault form's comma-separated IPs.
func parseWhitelist(v string) ([]string, bool) {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, false
		}
		out = append(out, ip.String())
	}
	return out, true
}

func fmtMinutes(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatFloat(d.Minutes(), 'f', -1, 64)
}
