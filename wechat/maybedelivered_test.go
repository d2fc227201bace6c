package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// server starts h on loopback and returns its URL.
func server(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// hijack takes the connection of a request whose body was read, for
// answers HTTP cannot give.
func hijack(t *testing.T, w http.ResponseWriter, r *http.Request) net.Conn {
	io.Copy(io.Discard, r.Body)
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return nil
	}
	return c
}

// TestMaybeDelivered sends a customer-service message to real local
// servers that fail in each way, and checks which failures may have left
// the message delivered: those after the request was written.
func TestMaybeDelivered(t *testing.T) {
	tests := []struct {
		name      string
		url       func(t *testing.T) string
		maybe     bool
		temporary bool
	}{
		{"connection refused", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return "http://" + addr
		}, false, true},
		{"TLS handshake fails", func(t *testing.T) string {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("the request reached the handler through an untrusted certificate")
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors it would log
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return srv.URL // the client does not trust its certificate
		}, false, true},
		{"accepts, reads and hangs past the timeout", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			})
		}, true, true},
		{"accepts the connection and never answers", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			t.Cleanup(func() { ln.Close(); <-done })
			go func() {
				defer close(done)
				var conns []net.Conn
				defer func() {
					for _, c := range conns {
						c.Close()
					}
				}()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					conns = append(conns, c)
				}
			}()
			return "http://" + ln.Addr().String()
		}, true, true},
		{"answers 502", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				http.Error(w, "bad gateway", http.StatusBadGateway)
			})
		}, true, true},
		{"answers 503", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			})
		}, true, true},
		{"answers 404 (a proxy routing nowhere)", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
		}, false, true},
		{"closes mid-response", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				if c := hijack(t, w, r); c != nil {
					fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"errcode\":0,")
					c.Close()
				}
			})
		}, true, true},
		{"closes without answering", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				if c := hijack(t, w, r); c != nil {
					c.Close()
				}
			})
		}, true, true},
		{"answers 200 that is not JSON", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>portal</html>") })
		}, true, false},
		{"WeChat answers -1 (system busy)", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"errcode":-1,"errmsg":"system error rid: 1-2-3"}`)
			})
		}, false, true},
		{"WeChat answers 45015", func(t *testing.T) string {
			return server(t, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"errcode":45015,"errmsg":"response out of time limit rid: 1-2-3"}`)
			})
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &wechat.Client{AppID: "wx1", AppSecret: "secret", APIBase: tt.url(t),
				HTTP: &http.Client{Transport: &http.Transport{}}}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			err := c.SendText(ctx, "TOKEN", "openid", "你好")
			if err == nil {
				t.Fatal("SendText succeeded")
			}
			t.Logf("error: %v", err)
			if got := wechat.MaybeDelivered(err); got != tt.maybe {
				t.Errorf("MaybeDelivered(%v) = %v, want %v", err, got, tt.maybe)
			}
			if got := wechat.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary(%v) = %v, want %v", err, got, tt.temporary)
			}
			if strings.Contains(err.Error(), "TOKEN") {
				t.Errorf("error shows the access token: %v", err)
			}
		})
	}
	if wechat.MaybeDelivered(nil) {
		t.Error("MaybeDelivered(nil) = true")
	}
}

// A send whose access token could not be fetched was never made, however
// the token call failed.
func TestMaybeDelivered_TokenFailureMeansNotSent(t *testing.T) {
	sends := 0
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/cgi-bin/message/") {
			sends++
		}
		http.Error(w, "bad gateway", http.StatusBadGateway) // the token endpoint too
	})
	c := &wechat.Client{AppID: "wx1", AppSecret: "secret", APIBase: url}
	tm := wechat.NewTokenManager(c, wechat.TokenOptions{})
	err := tm.Do(t.Context(), func(ctx context.Context, tok string) error {
		return c.SendText(ctx, tok, "openid", "你好")
	})
	var se *wechat.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want the token call's *StatusError", err)
	}
	if sends != 0 {
		t.Fatalf("%d sends made without a token", sends)
	}
	if wechat.MaybeDelivered(err) {
		t.Errorf("MaybeDelivered(%v) = true for a send never made", err)
	}
}
