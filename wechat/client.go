// Package wechat is a client for the WeChat Official Account API: access
// tokens and their manager, web authorization (OAuth), template and
// customer-service messages, follower info and server-URL signatures. It
// knows nothing of wxpush's users. The facts it follows are in
// docs/wechat.md (cited as "docs/wechat.md §N"; the long version with sources
// is docs/wechat-details.md).
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Production base URLs.
const (
	DefaultAPIBase   = "https://api.weixin.qq.com"
	DefaultOAuthBase = "https://open.weixin.qq.com"
)

// maxBody bounds the response bodies read; WeChat's are small (template
// lists are the largest).
const maxBody = 4 << 20

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Client calls one official account's API. The zero value is not usable:
// set AppID, AppSecret and the bases. It is safe for concurrent use.
type Client struct {
	AppID, AppSecret string
	APIBase          string       // DefaultAPIBase in production; the sandbox's URL in tests
	OAuthBase        string       // DefaultOAuthBase in production
	HTTP             *http.Client // nil: a shared client with a 10 s timeout
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// getJSON calls GET APIBase+path?q and decodes the answer into out (which may
// be nil). See do.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, q, nil, out)
}

// postJSON calls POST APIBase+path?q with body encoded as JSON.
func (c *Client) postJSON(ctx context.Context, path string, q url.Values, body, out any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // message contents may hold <a href> links (docs/wechat.md §4)
	if err := enc.Encode(body); err != nil {
		return fmt.Errorf("wechat: encode %s body: %w", path, err)
	}
	return c.do(ctx, http.MethodPost, path, q, &buf, out)
}

// do performs one API call. The body is parsed as JSON whatever the
// Content-Type (docs/wechat.md §0: sns/* answer text/plain), numbers are decoded with
// UseNumber so that 64-bit ids never pass through a float. An errcode present
// and not 0 becomes *Error; a non-2xx status *StatusError; a transport
// failure *RequestError, saying whether the request had been written; a 2xx
// answer that is not the JSON expected *ResponseError. No returned error
// contains the query string.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, out any) error {
	u := strings.TrimRight(c.APIBase, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		// NewRequest errors quote the URL: keep only method and path.
		return &RequestError{Method: method, Path: path, Err: errors.New("invalid request URL")}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	// Whether WeChat may have acted on a failed call depends on whether the
	// request was written before the failure (MaybeDelivered). Only calls
	// with a body act (sends); reads need not know.
	var written atomic.Bool
	if body != nil {
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					written.Store(true)
				}
			},
		}))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return c.requestError(method, path, err, written.Load())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return c.requestError(method, path, err, true)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Method: method, Path: path, StatusCode: resp.StatusCode}
	}
	var head struct {
		ErrCode *json.Number `json:"errcode"`
		ErrMsg  string       `json:"errmsg"`
	}
	if err := decode(data, &head); err != nil {
		return &ResponseError{Method: method, Path: path, Err: fmt.Errorf("response is not JSON: %w", err)}
	}
	if head.ErrCode != nil {
		code, err := head.ErrCode.Int64()
		if err != nil {
			return fmt.Errorf("wechat: %s %s: bad errcode %q", method, path, head.ErrCode.String())
		}
		if code != 0 {
			return &Error{Code: int(code), Msg: redact(head.ErrMsg, c.AppSecret), tokenAPI: isTokenPath(path)}
		}
	}
	if out == nil {
		return nil
	}
	if err := decode(data, out); err != nil {
		return &ResponseError{Method: method, Path: path, Err: fmt.Errorf("decode response: %w", err)}
	}
	return nil
}

// isTokenPath reports the endpoints that mint global access tokens (docs/wechat.md §1).
func isTokenPath(path string) bool {
	return path == "/cgi-bin/token" || path == "/cgi-bin/stable_token"
}

func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// requestError strips the URL from a transport error: *url.Error quotes the
// full URL, secret and access_token included. written: the whole request
// had been written when it failed.
func (c *Client) requestError(method, path string, err error, written bool) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// Belt and braces: some wrapped causes (redirect errors) quote URLs too.
	if msg := err.Error(); strings.Contains(msg, "?") || (c.AppSecret != "" && strings.Contains(msg, c.AppSecret)) {
		err = &redactedError{msg: redactQuery(redact(msg, c.AppSecret)), err: err}
	}
	return &RequestError{Method: method, Path: path, Err: err, Written: written}
}

// redactedError keeps errors.Is working on the cause while printing a
// cleaned message.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactQuery drops every query string in s (up to the next space or quote).
func redactQuery(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '?')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("?…")
		s = s[i+1:]
		j := strings.IndexAny(s, " \"'")
		if j < 0 {
			return b.String()
		}
		s = s[j:]
	}
}

// MaskOpenID shortens an openid for display: first 4 + "…" + last 4
// (oyORnuP8q7ou2gfYjqLzSIWZf0rs → oyOR…f0rs). Short values are returned as is.
func MaskOpenID(openid string) string {
	if len(openid) <= 10 {
		return openid
	}
	return openid[:4] + "…" + openid[len(openid)-4:]
}
