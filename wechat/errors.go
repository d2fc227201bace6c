package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is an error answered by WeChat: a body whose errcode is present and
// not 0 (docs/wechat-details.md §0; HTTP status is 200 even then). Callers
// decide what to do by asking its methods, not by matching numbers.
type Error struct {
	Code int
	Msg  string // errmsg as sent, usually ending in " rid: …" (show it to admins)

	// tokenAPI marks an answer from /cgi-bin/token or /cgi-bin/stable_token,
	// where 40001 means a wrong secret rather than a stale token (docs/wechat.md §1).
	tokenAPI bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg)
}

// TokenInvalid reports whether the access token used was invalid, superseded
// or expired: drop the cached token, fetch one, retry the call once (docs/wechat.md §1, §6).
// From the token endpoints themselves 40001 means a wrong secret instead
// (docs/wechat.md §1): such an error is a ConfigProblem, not TokenInvalid, so that nobody
// loops fetching tokens on it.
func (e *Error) TokenInvalid() bool {
	if e.tokenAPI {
		return false
	}
	switch e.Code {
	case 40001, 40014, 42001:
		return true
	}
	return false
}

// Temporary reports whether the same call may succeed later if retried with
// backoff (docs/wechat.md §6: -1 system busy, 45011 minute quota; 45066 mass-send retry too
// fast; 89501 IP awaiting admin confirmation).
func (e *Error) Temporary() bool {
	switch e.Code {
	case -1, 45011, 45066, 89501:
		return true
	}
	return false
}

// QuotaExceeded reports the daily quota error (45009): pause that API until
// the quota resets (midnight Beijing time) or an admin clears it; do not spin.
func (e *Error) QuotaExceeded() bool { return e.Code == 45009 }

// ConfigProblem reports errors only an administrator can fix: wrong appid or
// secret, IP whitelist, API not granted to the account (docs/wechat.md §6).
func (e *Error) ConfigProblem() bool {
	switch e.Code {
	case 40001:
		return e.tokenAPI
	case 40013, 40125, 40164, 40243, 41002, 41004, 48001, 48004, 89503, 89506, 89507:
		return true
	}
	return false
}

// CodeInvalid reports an OAuth code that is invalid, expired or already used:
// ask the user to scan again (docs/wechat.md §2, §6).
func (e *Error) CodeInvalid() bool {
	switch e.Code {
	case 40029, 40163, 41008, 42003:
		return true
	}
	return false
}

var explanations = map[int]string{
	-1:    "微信系统繁忙，请稍后重试",
	40001: "access_token 无效或已被新令牌取代（也可能是 AppSecret 错误）",
	40002: "grant_type 参数错误",
	40003: "openid 无效，或该用户不属于此公众号",
	40013: "AppID 无效，请检查公众号配置",
	40014: "access_token 无效",
	40029: "授权码无效或已过期，请重新扫码",
	40030: "refresh_token 无效，请重新授权",
	40037: "模板 ID 无效",
	40125: "AppSecret 无效，请检查公众号配置",
	40163: "授权码已被使用，请重新扫码",
	40164: "调用方 IP 不在公众号的 IP 白名单中",
	40243: "AppSecret 已被冻结",
	41001: "缺少 access_token 参数",
	41002: "缺少 appid 参数",
	41004: "缺少 secret 参数",
	41008: "缺少授权码，请重新扫码",
	42001: "access_token 已过期",
	42002: "refresh_token 已过期，请重新授权",
	42003: "授权码已过期，请重新扫码",
	43002: "需要使用 POST 请求",
	43004: "用户未关注公众号",
	44002: "请求体为空",
	45009: "今日接口调用次数已达上限，请等待次日额度重置",
	45011: "接口调用过于频繁，请稍后重试",
	45015: "超出客服消息的 48 小时互动时限，请改用模板消息",
	45047: "客服消息条数已达上限，需等待用户再次互动",
	47001: "请求数据格式错误",
	47003: "参数无效（例如模板数据不符合规则）",
	48001: "公众号没有此接口权限（或授权范围不足）",
	48004: "接口因违规被封禁",
	50001: "用户未授权此接口",
	50002: "用户受限（已冻结、封禁或注销）",
	89501: "此 IP 正在等待管理员确认",
	89503: "此 IP 调用需要管理员确认",
	89506: "24 小时内该 IP 被管理员拒绝调用两次",
	89507: "1 小时内该 IP 被管理员拒绝调用一次",
}

// Explain returns a short explanation in Chinese for people.
func (e *Error) Explain() string {
	if e.tokenAPI && e.Code == 40001 {
		return "AppSecret 错误（获取 access_token 时返回 40001），请检查公众号配置"
	}
	if s, ok := explanations[e.Code]; ok {
		return s
	}
	return fmt.Sprintf("微信接口返回错误（错误码 %d）", e.Code)
}

// StatusError is an HTTP response with a non-2xx status. WeChat answers its
// errors with 200, so this comes from a proxy or an outage: temporary.
type StatusError struct {
	Method, Path string // no query: it may hold the secret
	StatusCode   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("wechat: %s %s: HTTP %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
}

// Temporary is always true (docs/wechat.md §6: HTTP 5xx are transient).
func (e *StatusError) Temporary() bool { return true }

// RequestError is a transport failure (connection refused, timeout, ...).
// Unlike *url.Error it names only the method and path, never the query,
// which may carry the app secret or an access token.
type RequestError struct {
	Method, Path string
	Err          error
	// Written: the whole request had been written to the connection when
	// the call failed (waiting for or reading the answer), so WeChat may
	// have acted on it. False for failures before that: DNS, connection
	// refused, TLS handshake, a write that failed.
	Written bool
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("wechat: %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// Temporary is true unless the caller cancelled the call: transport errors
// and timeouts are retried with backoff (docs/wechat.md §6).
func (e *RequestError) Temporary() bool { return !errors.Is(e.Err, context.Canceled) }

// ResponseError is a 2xx answer whose body is not the JSON expected (a
// proxy's page, a truncated body): the request got somewhere, but nobody
// can tell what WeChat did with it.
type ResponseError struct {
	Method, Path string
	Err          error
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("wechat: %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *ResponseError) Unwrap() error { return e.Err }

// MaybeDelivered reports whether a call that failed with err may
// nevertheless have taken effect at WeChat — a message sent although the
// call failed: the request was written and no answer from WeChat says what
// became of it (a timeout or a connection lost while waiting for the answer,
// an HTTP 5xx from a gateway, a 2xx that is not WeChat's JSON). It is false
// when WeChat answered (an errcode: *Error), when the request never left
// (connection refused, DNS, TLS handshake), and when getting the access
// token failed, so that the call itself was never made. A customer-service
// message has no de-duplication key: one that may have been delivered must
// not be sent again blindly.
func MaybeDelivered(err error) bool {
	if err == nil {
		return false
	}
	var we *Error
	if errors.As(err, &we) {
		return false
	}
	var re *RequestError
	if errors.As(err, &re) {
		return re.Written && !isTokenPath(re.Path)
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 && !isTokenPath(se.Path)
	}
	var pe *ResponseError
	if errors.As(err, &pe) {
		return !isTokenPath(pe.Path)
	}
	return false
}

// IsTemporary reports whether err (from any Client method) is worth retrying
// later with backoff.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// IsTokenInvalid reports whether err is a WeChat error saying the access token
// must be refreshed.
func IsTokenInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.TokenInvalid()
}

// redact removes secret from s; used on every message that could echo a URL.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "***")
}
