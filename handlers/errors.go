package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// Error is every failure a handler returns, whoever called: one value
// renders as a page, an htmx fragment, plain text (WeChat's servers) or a
// JSON body (programs), depending on the route's wrapper.
type Error struct {
	Status  int
	Code    string            // stable name for programs: "invalid_request", "unknown_user", …
	Title   string            // page heading; "" takes the status's
	Message string            // for the person (or program) that asked
	Fields  map[string]string // input field (JSON path on the API) → what is wrong with it
	Err     error             // the cause: logged, never shown
	// RetryAfter, when set, is sent as the Retry-After header (429, 503).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// errorf is an Error with a page title, for the site's pages.
func errorf(status int, title, msg string) *Error {
	return &Error{Status: status, Code: defaultCodes[status], Title: title, Message: msg}
}

// apiErr is an Error with a program-facing code, for JSON endpoints.
func apiErr(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// serviceStatus maps the use cases' error codes to HTTP, in one place.
var serviceStatus = map[service.Code]int{
	service.EInvalid:      http.StatusBadRequest,
	service.ENotFound:     http.StatusNotFound,
	service.EConflict:     http.StatusConflict,
	service.EUnauthorized: http.StatusUnauthorized,
	service.EForbidden:    http.StatusForbidden,
	service.ETooLarge:     http.StatusRequestEntityTooLarge,
	service.ETooMany:      http.StatusTooManyRequests,
	service.EUnavailable:  http.StatusServiceUnavailable,
	service.EUpstream:     http.StatusBadGateway,
	service.EInternal:     http.StatusInternalServerError,
}

// defaultCodes names an error for programs when nothing more precise does.
var defaultCodes = map[int]string{
	http.StatusBadRequest:            "invalid_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusGone:                  "gone",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "invalid_request",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusInternalServerError:   "internal",
	http.StatusBadGateway:            "upstream_error",
	http.StatusServiceUnavailable:    "unavailable",
}

// titles head error pages.
var titles = map[int]string{
	http.StatusBadRequest:            "参数错误",
	http.StatusUnauthorized:          "需要登录",
	http.StatusForbidden:             "没有权限",
	http.StatusNotFound:              "找不到",
	http.StatusConflict:              "无法完成",
	http.StatusGone:                  "已失效",
	http.StatusRequestEntityTooLarge: "内容太大",
	http.StatusUnprocessableEntity:   "参数错误",
	http.StatusTooManyRequests:       "操作太频繁",
	http.StatusBadGateway:            "微信接口出错",
	http.StatusServiceUnavailable:    "暂不可用",
}

// asError turns anything a handler or use case returned into an Error.
// Errors of other types are internal: their text is logged, not shown.
func asError(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	var se *service.Error
	if errors.As(err, &se) && se.Code != service.EInternal {
		status := serviceStatus[se.Code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		code := se.Reason
		if code == "" {
			code = defaultCodes[status]
		}
		e := &Error{Status: status, Code: code, Message: se.Message, Fields: se.Fields, Err: se.Err}
		if !se.RetryAt.IsZero() {
			e.RetryAfter = max(time.Second, time.Until(se.RetryAt))
		}
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Title: "出错了", Message: "服务器内部错误，请稍后再试。", Err: err}
}

func (e *Error) title() string {
	if e.Title != "" {
		return e.Title
	}
	if t, ok := titles[e.Status]; ok {
		return t
	}
	return http.StatusText(e.Status)
}

// handlerFunc is a handler that returns its failure to one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle serves a page: a returned error is logged and rendered as a page
// (or, for htmx requests, into the page's error area).
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// handleJSON serves programs: a returned error is logged and written as
// {"error": {"code", "message", "fields"}}.
func (s *Server) handleJSON(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeJSONError(w, r, err)
		}
	})
}

// handlePlain serves WeChat's servers: a returned error is logged and
// written as plain text.
func (s *Server) handlePlain(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			e := s.logError(w, r, err)
			http.Error(w, e.Message, e.Status)
		}
	})
}

// logError logs a failure once, with the request id, sets the headers
// every rendering shares, and returns it as an Error.
func (s *Server) logError(w http.ResponseWriter, r *http.Request, err error) *Error {
	e := asError(err)
	log := s.logger(r.Context())
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.Status >= 500 {
		log.Error("request failed", "method", r.Method, "path", logPath(r.URL.Path), "status", e.Status, "err", err)
	} else {
		log.Info("request refused", "method", r.Method, "path", logPath(r.URL.Path), "status", e.Status, "code", e.Code, "err", err)
	}
	return e
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	e := s.logError(w, r, err)
	if isHTMX(r) {
		// Show the message in the page's error area instead of the target.
		w.Header().Set("HX-Retarget", "#htmx-error")
		w.Header().Set("HX-Reswap", "innerHTML")
		s.render(w, r, e.Status, views.ErrorFragment(e.Message))
		return
	}
	s.render(w, r, e.Status, views.ErrorPage(s.page(r, e.title()), e.Status, e.Message))
}

func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	e := s.logError(w, r, err)
	msg := e.Message
	if e.Code == "internal" {
		msg = "服务器内部错误，请稍后再试。"
	}
	if e.Status == http.StatusUnauthorized {
		v := `Bearer realm="wxpush"`
		if r.Header.Get("Authorization") != "" {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	body := map[string]any{"code": e.Code, "message": msg}
	if len(e.Fields) > 0 {
		body["fields"] = e.Fields
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}
