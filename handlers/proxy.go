package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads WXPUSH_TRUSTED_PROXIES: comma-separated IP
// addresses and CIDR prefixes of the reverse proxies whose
// X-Forwarded-For and X-Forwarded-Proto are believed. Empty trusts none.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("WXPUSH_TRUSTED_PROXIES: %q is not an IP address or CIDR prefix", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("WXPUSH_TRUSTED_PROXIES: %q is not an IP address or CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientInfo is who sent a request, as far as we can tell.
type clientInfo struct {
	IP     string // the client's address, without port
	Scheme string // http or https, as the client used it
}

// withClientInfo works out the client's address and scheme and puts them
// in the request's context (ClientIP, ClientScheme). Forwarding headers
// count only when the connection comes from a trusted proxy; otherwise
// anyone could claim any address.
func (s *Server) withClientInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci := clientFrom(r, s.Config.TrustedProxies)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKeyClient, ci)))
	})
}

type ctxKeyClientT struct{}

var ctxKeyClient ctxKeyClientT

// ClientIP is the address of the client that sent r: the connection's
// peer, or, behind trusted proxies, the rightmost address in
// X-Forwarded-For that is not a trusted proxy.
func ClientIP(r *http.Request) string {
	if ci, ok := r.Context().Value(ctxKeyClient).(clientInfo); ok {
		return ci.IP
	}
	return peerHost(r)
}

// ClientScheme is http or https as the client used it (X-Forwarded-Proto
// from a trusted proxy, else whether this connection is TLS).
func ClientScheme(r *http.Request) string {
	if ci, ok := r.Context().Value(ctxKeyClient).(clientInfo); ok {
		return ci.Scheme
	}
	return connScheme(r)
}

func clientFrom(r *http.Request, trusted []netip.Prefix) clientInfo {
	peer := peerAddr(r)
	ci := clientInfo{IP: peerHost(r), Scheme: connScheme(r)}
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return ci
	}
	// Walk X-Forwarded-For from the right (the hop nearest us) past our
	// own proxies; the first address they did not add is the client. Each
	// proxy appends the address it received from, so everything left of
	// that is whatever the client chose to send.
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // garbage: keep the last hop we could vouch for
		}
		a = a.Unmap()
		ci.IP = a.String()
		if !isTrusted(a, trusted) {
			break
		}
	}
	// The proxy in front of us sets the scheme; with several values the
	// last one is the one a trusted proxy added.
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 0 {
		parts := strings.Split(v[len(v)-1], ",")
		switch p := strings.ToLower(strings.TrimSpace(parts[len(parts)-1])); p {
		case "http", "https":
			ci.Scheme = p
		}
	}
	return ci
}

// forwardedFor lists the X-Forwarded-For hops, left (client) to right,
// across repeated headers.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			// Some proxies add a port ("1.2.3.4:5678", "[::1]:80").
			if host, _, err := net.SplitHostPort(f); err == nil {
				f = host
			}
			hops = append(hops, strings.Trim(f, "[]"))
		}
	}
	return hops
}

func peerAddr(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(peerHost(r))
	return a.Unmap()
}

// peerHost is the connection's remote address without the port.
func peerHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

func connScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
