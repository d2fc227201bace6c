package handlers

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "127.0.0.1", want: []string{"127.0.0.1/32"}},
		{in: " 10.0.0.0/8 , ::1, 192.168.1.7/24", want: []string{"10.0.0.0/8", "::1/128", "192.168.1.0/24"}},
		{in: "::ffff:127.0.0.1", want: []string{"127.0.0.1/32"}},
		{in: "localhost", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseTrustedProxies(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if strings.Join(gs, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ParseTrustedProxies(%q) = %v, want %v", tc.in, gs, tc.want)
		}
	}
}

func TestClientInfo_BelievesForwardingHeadersOnlyFromTrustedProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies("127.0.0.1, 10.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		peer       string
		tls        bool
		xff        []string
		proto      []string
		wantIP     string
		wantScheme string
	}{
		{name: "direct, no headers", peer: "203.0.113.9:5000", wantIP: "203.0.113.9", wantScheme: "http"},
		{name: "direct TLS", peer: "203.0.113.9:5000", tls: true, wantIP: "203.0.113.9", wantScheme: "https"},
		{name: "untrusted peer spoofing XFF and proto", peer: "203.0.113.9:5000",
			xff: []string{"1.2.3.4"}, proto: []string{"https"}, wantIP: "203.0.113.9", wantScheme: "http"},
		{name: "untrusted peer claiming to be a trusted proxy", peer: "203.0.113.9:5000",
			xff: []string{"127.0.0.1"}, wantIP: "203.0.113.9", wantScheme: "http"},
		{name: "trusted proxy, one hop", peer: "127.0.0.1:40000",
			xff: []string{"198.51.100.7"}, proto: []string{"https"}, wantIP: "198.51.100.7", wantScheme: "https"},
		{name: "trusted proxy, client prepends a fake hop", peer: "127.0.0.1:40000",
			xff: []string{"6.6.6.6, 198.51.100.7"}, wantIP: "198.51.100.7", wantScheme: "http"},
		{name: "chain of trusted proxies", peer: "127.0.0.1:40000",
			xff: []string{"6.6.6.6, 198.51.100.7, 10.1.2.3, 10.9.9.9"}, wantIP: "198.51.100.7", wantScheme: "http"},
		{name: "chain across repeated headers", peer: "10.0.0.5:1234",
			xff: []string{"6.6.6.6, 198.51.100.7", "10.1.2.3"}, wantIP: "198.51.100.7", wantScheme: "http"},
		{name: "untrusted hop inside the chain stops the walk", peer: "127.0.0.1:40000",
			xff: []string{"198.51.100.7, 203.0.113.50, 10.1.2.3"}, wantIP: "203.0.113.50", wantScheme: "http"},
		{name: "every hop trusted: the leftmost", peer: "127.0.0.1:40000",
			xff: []string{"10.1.1.1, 10.2.2.2"}, wantIP: "10.1.1.1", wantScheme: "http"},
		{name: "trusted proxy without XFF", peer: "127.0.0.1:40000", wantIP: "127.0.0.1", wantScheme: "http"},
		{name: "garbage hop: stop at the last good one", peer: "127.0.0.1:40000",
			xff: []string{"198.51.100.7, not-an-ip, 10.1.2.3"}, wantIP: "10.1.2.3", wantScheme: "http"},
		{name: "hops with ports", peer: "127.0.0.1:40000",
			xff: []string{"198.51.100.7:4711"}, wantIP: "198.51.100.7", wantScheme: "http"},
		{name: "IPv6 client through IPv6 proxy", peer: "[fd00::1]:443",
			xff: []string{"2001:db8::42"}, proto: []string{"https"}, wantIP: "2001:db8::42", wantScheme: "https"},
		{name: "IPv4-mapped peer is trusted as IPv4", peer: "[::ffff:127.0.0.1]:40000",
			xff: []string{"198.51.100.7"}, wantIP: "198.51.100.7", wantScheme: "http"},
		{name: "proto: the last value, set by our proxy", peer: "127.0.0.1:40000",
			proto: []string{"http, https"}, wantIP: "127.0.0.1", wantScheme: "https"},
		{name: "proto: nonsense ignored", peer: "127.0.0.1:40000",
			proto: []string{"gopher"}, wantIP: "127.0.0.1", wantScheme: "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if !tc.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			var gotIP, gotScheme string
			s := &Server{Config: Config{TrustedProxies: trusted}}
			s.withClientInfo(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotIP, gotScheme = ClientIP(r), ClientScheme(r)
			})).ServeHTTP(httptest.NewRecorder(), r)
			if gotIP != tc.wantIP || gotScheme != tc.wantScheme {
				t.Errorf("client = %s %s, want %s %s", gotIP, gotScheme, tc.wantIP, tc.wantScheme)
			}
		})
	}
}

func TestClientInfo_NoTrustedProxiesIgnoresHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	var got string
	(&Server{}).withClientInfo(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = ClientIP(r) + " " + ClientScheme(r)
	})).ServeHTTP(httptest.NewRecorder(), r)
	if got != "127.0.0.1 http" {
		t.Errorf("without WXPUSH_TRUSTED_PROXIES: client = %s, want the peer 127.0.0.1 http", got)
	}
}

func TestAccessLog_HasClientIP(t *testing.T) {
	trusted, _ := ParseTrustedProxies("127.0.0.1")
	var buf bytes.Buffer
	s := &Server{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Config: Config{TrustedProxies: trusted}}
	h := s.withClientInfo(s.withRequestLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(buf.String(), `"client_ip":"198.51.100.7"`) {
		t.Errorf("access log line lacks the client's address:\n%s", buf.String())
	}
}
