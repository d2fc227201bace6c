package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// checkHost answers 421 Misdirected Request to a request for a host this
// site is not. A page on another site can point its own name at this
// server (DNS rebinding: evil.example resolves to 127.0.0.1) and then
// reads and writes this site as if it were its own: the browser sends
// "Host: evil.example", which is how it is told apart. Allowed are
// Config.Hosts (default: the host of BaseURL) and loopback names
// (localhost, 127.0.0.0/8, ::1), which a rebinding page cannot use: its
// Host is always its own name. /healthz and /readyz answer any host, for
// load balancers and probes that ask by address.
//
// Ports are not compared: a proxy may add or drop them, and a rebinding
// page differs in the name already.
func (s *Server) checkHost(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, h := range s.Config.Hosts {
		allowed[normHost(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := normHost(requestHost(r, s.Config.TrustedProxies))
		if allowed[h] || loopbackHost(h) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if len(h) > 100 {
			h = h[:100]
		}
		s.logger(r.Context()).Warn("request for another host refused", "host", h)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusMisdirectedRequest)
		w.Write([]byte("421 请求的主机名不是本站的地址（WXPUSH_BASE_URL）。\n" +
			"421 Misdirected Request: this server answers only for the host of its WXPUSH_BASE_URL.\n"))
	})
}

// requestHost is the host the client asked for: the Host header, or,
// from a trusted proxy that sets it, the last X-Forwarded-Host (the one
// that proxy added). From anyone else X-Forwarded-Host is only a claim.
func requestHost(r *http.Request, trusted []netip.Prefix) string {
	if v := r.Header.Values("X-Forwarded-Host"); len(v) > 0 && isTrusted(peerAddr(r), trusted) {
		parts := strings.Split(v[len(v)-1], ",")
		if h := strings.TrimSpace(parts[len(parts)-1]); h != "" {
			return h
		}
	}
	return r.Host
}

// normHost lowercases a host, drops its port, IPv6 brackets and a trailing
// dot: "Push.Example.com.:443" → "push.example.com", "[::1]:80" → "::1".
func normHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
