package handlers

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// The JSON API for programs, authenticated by admin API tokens
// (Authorization: Bearer wxp_…) made on /admin/tokens. Every answer,
// errors included, is JSON; openapi.json documents it.
//
// Cross-origin protection (middleware.go) stays in front of the API: it
// refuses only requests a browser marks as cross-site (Sec-Fetch-Site or
// Origin), and programs (curl, SDKs, servers) send neither, so they pass.

// openAPIDoc is served at /api/v1/openapi.json.
//
//go:embed openapi.json
var openAPIDoc []byte

// apiRoute is one endpoint of the API. Every route is Public, or names
// the Scope a token needs, or is AnyScope (any valid token); a test over
// apiRoutes holds every route to that.
type apiRoute struct {
	Method, Pattern string
	Public          bool   // needs no token
	Scope           string // store.ScopeSend, ScopeRead or ScopeManage
	AnyScope        bool   // any valid token, whatever its scopes
	Handle          func(s *Server, w http.ResponseWriter, r *http.Request, tok store.APIToken) error
}

// apiRoutes is every endpoint; routes.go registers them and a test checks
// openapi.json against this table.
var apiRoutes = []apiRoute{
	{Method: "POST", Pattern: "/api/v1/messages", Scope: store.ScopeSend, Handle: (*Server).apiSend},
	{Method: "GET", Pattern: "/api/v1/messages/{id}", Scope: store.ScopeRead, Handle: (*Server).apiMessage},
	{Method: "GET", Pattern: "/api/v1/users", Scope: store.ScopeRead, Handle: (*Server).apiUsers},
	{Method: "POST", Pattern: "/api/v1/webhooks", Scope: store.ScopeManage, Handle: (*Server).apiCreateWebhook},
	{Method: "GET", Pattern: "/api/v1/webhooks", Scope: store.ScopeManage, Handle: (*Server).apiWebhooks},
	{Method: "GET", Pattern: "/api/v1/webhooks/{id}", Scope: store.ScopeManage, Handle: (*Server).apiWebhook},
	{Method: "DELETE", Pattern: "/api/v1/webhooks/{id}", Scope: store.ScopeManage, Handle: (*Server).apiDeleteWebhook},
	{Method: "POST", Pattern: "/api/v1/webhooks/{id}/secret", Scope: store.ScopeManage, Handle: (*Server).apiRotateWebhookSecret},
	{Method: "POST", Pattern: "/api/v1/webhooks/{id}/test", Scope: store.ScopeManage, Handle: (*Server).apiTestWebhook},
	{Method: "GET", Pattern: "/api/v1/token", AnyScope: true, Handle: (*Server).apiTokenInfo},
	{Method: "GET", Pattern: "/api/v1/topics", Scope: store.ScopeRead, Handle: (*Server).apiTopics},
	{Method: "PUT", Pattern: "/api/v1/topics/{slug}/subscribers/{user}", Scope: store.ScopeManage, Handle: (*Server).apiSubscribe},
	{Method: "DELETE", Pattern: "/api/v1/topics/{slug}/subscribers/{user}", Scope: store.ScopeManage, Handle: (*Server).apiUnsubscribe},
	{Method: "GET", Pattern: "/api/v1/openapi.json", Public: true, Handle: (*Server).apiOpenAPI},
}

// apiMaxBody bounds a request body: room for a message's 64 KB of content
// however it is escaped (the use case refuses more content with a 413).
const apiMaxBody = 4 * service.MaxContentBytes

// apiMaxUsers bounds the names in one send; {"all": true} has no limit.
const apiMaxUsers = 1000

// apiHandlers holds what the API's routes share.
type apiHandlers struct {
	s     *Server
	limit *bucketLimiter
}

// newAPI returns the API's handlers; its rate limits live as long as it.
func (s *Server) newAPI() *apiHandlers {
	return &apiHandlers{s: s, limit: newBucketLimiter(s.Config.APIRatePerSecond, int(math.Max(1, 2*s.Config.APIRatePerSecond)))}
}

// handler wraps one route: bearer token, rate limit, JSON errors.
func (a *apiHandlers) handler(rt apiRoute) http.Handler {
	s := a.s
	return s.handleJSON(func(w http.ResponseWriter, r *http.Request) error {
		var tok store.APIToken
		if !rt.Public {
			var err error
			if tok, err = s.apiAuthenticate(r); err != nil {
				return err
			}
			// Every answer to a token says what it may do (scopes.go).
			w.Header().Set("Wxpush-Token-Scopes", strings.Join(tok.Scopes, " "))
			if !rt.AnyScope {
				if err := service.RequireScope(tok, rt.Scope); err != nil {
					return err
				}
			}
			if ok, wait := a.limit.allow(tok.ID, s.Now()); !ok {
				secs := max(1, int(math.Ceil(wait.Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				return apiErr(http.StatusTooManyRequests, "rate_limited",
					fmt.Sprintf("这个令牌的请求太频繁（平均每秒最多 %g 次，突发 %g 次），请 %d 秒后再试。", a.limit.rate, a.limit.burst, secs))
			}
		}
		return rt.Handle(s, w, r, tok)
	})
}

// fallback answers every other path under /api/: 405 when the path exists
// with another method, else 404 — in JSON, unlike the site's pages.
func (a *apiHandlers) fallback() http.Handler {
	return a.s.handleJSON(func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, rt := range apiRoutes {
			if patternMatches(rt.Pattern, r.URL.Path) {
				allow = append(allow, rt.Method)
				if rt.Method == http.MethodGet {
					allow = append(allow, http.MethodHead)
				}
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return apiErr(http.StatusMethodNotAllowed, "method_not_allowed", "这个地址不接受 "+r.Method+" 请求，请用 "+strings.Join(allow, "、")+"。")
		}
		return apiErr(http.StatusNotFound, "not_found", "没有这个接口，接口说明见 /api/v1/openapi.json。")
	})
}

// patternMatches reports whether a path fits a route pattern whose
// wildcards ({id}) stand for one non-empty segment.
func patternMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return false
			}
		} else if p != xs[i] {
			return false
		}
	}
	return true
}

func badRequest(msg string, fields map[string]string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg, Fields: fields}
}

// writeJSON writes v as the JSON answer, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiAuthenticate checks the bearer token (RFC 6750).
func (s *Server) apiAuthenticate(r *http.Request) (store.APIToken, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return store.APIToken{}, apiErr(http.StatusUnauthorized, "unauthorized", "缺少令牌：请在请求头中带上 Authorization: Bearer <API 令牌>；管理员可在 /admin/tokens 创建令牌。")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return store.APIToken{}, apiErr(http.StatusUnauthorized, "unauthorized", "Authorization 请求头的格式不对，应为 Bearer <API 令牌>。")
	}
	return s.App.AuthenticateAPIToken(r.Context(), token)
}

// decodeJSON reads exactly one JSON value into v, refusing unknown fields,
// trailing data and bodies over apiMaxBody.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apiErr(http.StatusUnsupportedMediaType, "unsupported_media_type", "请求体须为 JSON：请设置 Content-Type: application/json。")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, apiMaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		} else if err == nil {
			return badRequest("请求体只能是一个 JSON 对象，后面不能再有别的内容。", nil)
		}
	}
	// Messages are in Chinese and never quote the decoder's own text (Go
	// internals, in English); the cause is logged.
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var e *Error
	switch {
	case errors.As(err, &tooBig):
		return apiErr(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("请求体超过 %d KB。", apiMaxBody>>10))
	case errors.Is(err, io.EOF):
		e = badRequest("请求体为空，请发送一个 JSON 对象。", nil)
	case errors.As(err, &syntax):
		e = badRequest(fmt.Sprintf("请求体不是有效的 JSON：第 %d 字节附近有语法错误。", syntax.Offset), nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		e = badRequest("请求体不是有效的 JSON：内容不完整。", nil)
	case errors.As(err, &typ):
		if typ.Field == "" {
			e = badRequest("请求体须为 JSON 对象。", nil)
		} else {
			e = badRequest("字段 "+typ.Field+" 的类型不对（详见 fields）。",
				map[string]string{typ.Field: fmt.Sprintf("应为%s，收到的是 %s。", jsonTypeName(typ.Type), typ.Value)})
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		e = badRequest("没有字段 "+strconv.Quote(name)+"（详见 fields）。", map[string]string{name: "没有这个字段。"})
	default:
		e = badRequest("请求体不是有效的 JSON。", nil)
	}
	e.Err = err
	return e
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "字符串"
	case reflect.Bool:
		return " true 或 false"
	case reflect.Slice:
		return "数组"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "对象"
	default:
		return " " + t.Kind().String()
	}
}
