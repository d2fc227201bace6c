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
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
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

// apiRoute is one endpoint of the API.
type apiRoute struct {
	Method, Pattern string
	Public          bool // needs no token
	Handle          func(s *Server, w http.ResponseWriter, r *http.Request, tok store.APIToken) error
}

// apiRoutes is every endpoint; routes.go registers them and a test checks
// openapi.json against this table.
var apiRoutes = []apiRoute{
	{Method: "POST", Pattern: "/api/v1/messages", Handle: (*Server).apiSend},
	{Method: "GET", Pattern: "/api/v1/messages/{id}", Handle: (*Server).apiMessage},
	{Method: "GET", Pattern: "/api/v1/users", Handle: (*Server).apiUsers},
	{Method: "GET", Pattern: "/api/v1/openapi.json", Public: true, Handle: (*Server).apiOpenAPI},
}

// apiMaxBody bounds a request body.
const apiMaxBody = 64 << 10

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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := a.s
		var tok store.APIToken
		if !rt.Public {
			var err error
			if tok, err = s.apiAuthenticate(r); err != nil {
				s.writeAPIError(w, r, err)
				return
			}
			if ok, wait := a.limit.allow(tok.ID, s.Now()); !ok {
				secs := max(1, int(math.Ceil(wait.Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				s.writeAPIError(w, r, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited",
					Message: fmt.Sprintf("too many requests for this token (%g/s, bursts of %g); retry after %d s", a.limit.rate, a.limit.burst, secs)})
				return
			}
		}
		if err := rt.Handle(s, w, r, tok); err != nil {
			s.writeAPIError(w, r, err)
		}
	})
}

// fallback answers every other path under /api/: 405 when the path exists
// with another method, else 404 — in JSON, unlike the site's pages.
func (a *apiHandlers) fallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			a.s.writeAPIError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
				Message: r.Method + " is not allowed here; use " + strings.Join(allow, ", ")})
			return
		}
		a.s.writeAPIError(w, r, &apiError{Status: http.StatusNotFound, Code: "not_found",
			Message: "no such endpoint; see /api/v1/openapi.json"})
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

// apiError is an API failure as the client sees it:
// {"error": {"code": …, "message": …, "fields": {…}}}.
type apiError struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string // JSON path of the field → what is wrong with it
	Err     error             // the cause, logged but never shown
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *apiError) Unwrap() error { return e.Err }

func badRequest(msg string, fields map[string]string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg, Fields: fields}
}

func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal server error", Err: err}
	}
	log := s.logger(r.Context())
	if ae.Status >= 500 {
		log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "err", err)
	} else {
		log.Info("api request refused", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "code", ae.Code)
	}
	if ae.Status == http.StatusUnauthorized {
		v := `Bearer realm="wxpush"`
		if ae.Code == "unauthorized" && r.Header.Get("Authorization") != "" {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	body := map[string]any{"code": ae.Code, "message": ae.Message}
	if len(ae.Fields) > 0 {
		body["fields"] = ae.Fields
	}
	writeAPIJSON(w, ae.Status, map[string]any{"error": body})
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiAuthenticate checks the bearer token (RFC 6750).
func (s *Server) apiAuthenticate(r *http.Request) (store.APIToken, error) {
	unauthorized := func(msg string) error {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return store.APIToken{}, unauthorized("missing token: send Authorization: Bearer <API token>; admins create tokens on /admin/tokens")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return store.APIToken{}, unauthorized("malformed Authorization header: expected Bearer <API token>")
	}
	t, err := s.Store.AuthenticateAPIToken(r.Context(), token)
	switch {
	case errors.Is(err, store.ErrRevoked):
		return t, unauthorized("this API token was revoked")
	case errors.Is(err, store.ErrNotFound):
		return t, unauthorized("invalid API token")
	}
	return t, err
}

// apiSendBody is the body of POST /api/v1/messages.
type apiSendBody struct {
	To       *apiTo       `json:"to"`
	Text     *string      `json:"text"`
	Template *apiTemplate `json:"template"`
}

type apiTo struct {
	Users []string `json:"users"`
	All   bool     `json:"all"`
}

type apiTemplate struct {
	ID   string            `json:"id"`
	Data map[string]string `json:"data"`
	URL  string            `json:"url"`
}

// decodeJSON reads exactly one JSON value into v, refusing unknown fields,
// trailing data and bodies over apiMaxBody.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "send the body as Content-Type: application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, apiMaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		} else if err == nil {
			return badRequest("the body must hold one JSON object and nothing after it", nil)
		}
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("the body is larger than %d KB", apiMaxBody>>10)}
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object", nil)
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err), nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid JSON: the body ends too early", nil)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body must be a JSON object", nil)
		}
		return badRequest("a field has the wrong type",
			map[string]string{typ.Field: fmt.Sprintf("应为%s，收到的是 %s。", jsonTypeName(typ.Type), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return badRequest("unknown field "+strconv.Quote(name), map[string]string{name: "没有这个字段。"})
	}
	return badRequest("invalid JSON: "+err.Error(), nil)
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

// request checks the body's shape and turns it into a send request (the
// outbox checks the content).
func (b apiSendBody) request() (outbox.Request, *apiError) {
	fields := map[string]string{}
	req := outbox.Request{Source: "api"}
	switch {
	case b.To == nil || (b.To.Users == nil && !b.To.All):
		fields["to"] = `请指定接收人：{"users": ["用户名", …]} 或 {"all": true}。`
	case b.To.Users != nil && b.To.All:
		fields["to"] = "users 和 all 只能选一个。"
	case b.To.All:
		req.All = true
	case len(b.To.Users) == 0:
		fields["to.users"] = "至少填写一个用户名。"
	case len(b.To.Users) > apiMaxUsers:
		fields["to.users"] = fmt.Sprintf(`一次最多 %d 个用户；发给所有已绑定用户请用 {"all": true}。`, apiMaxUsers)
	default:
		req.UserNames = b.To.Users
	}
	switch {
	case b.Text != nil && b.Template != nil:
		fields["text"] = "text 和 template 只能选一个。"
		fields["template"] = "text 和 template 只能选一个。"
	case b.Text != nil:
		req.Kind, req.Text = store.KindText, *b.Text
	case b.Template != nil:
		req.Kind, req.TemplateID, req.Data, req.URL = store.KindTemplate, b.Template.ID, b.Template.Data, strings.TrimSpace(b.Template.URL)
	default:
		fields["text"] = "请填写 text（客服消息）或 template（模板消息）。"
	}
	if len(fields) > 0 {
		return req, badRequest(summarize(fields), fields)
	}
	return req, nil
}

// apiField turns an outbox.InputError key into the body's JSON path.
func apiField(key string, all bool) string {
	switch {
	case key == "to" && !all:
		return "to.users"
	case key == "template":
		return "template.id"
	case key == "url":
		return "template.url"
	case strings.HasPrefix(key, "data."):
		return "template." + key
	}
	return key
}

// summarize names the faulty fields in a one-line English message.
func summarize(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "invalid fields: " + strings.Join(keys, ", ") + " (see fields)"
}

// apiSend queues a message: POST /api/v1/messages.
func (s *Server) apiSend(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	ctx := r.Context()
	var body apiSendBody
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, ae := body.request()
	if ae != nil {
		return ae
	}
	// Unknown names are told apart from bad input: 404 names them.
	var unknown []string
	for _, name := range req.UserNames {
		u, err := s.Store.UserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, name)
			continue
		}
		if err != nil {
			return err
		}
		req.UserIDs = append(req.UserIDs, u.ID)
	}
	if len(unknown) > 0 {
		return &apiError{Status: http.StatusNotFound, Code: "unknown_user",
			Message: "no such user: " + strings.Join(unknown, ", "),
			Fields:  map[string]string{"to.users": "用户不存在：" + strings.Join(unknown, "、") + "。"}}
	}
	req.UserNames = nil
	to := "全部已绑定用户"
	if !req.All {
		to = joinLimited(body.To.Users, 10)
	}
	req.Audit = func(m store.Message) store.AuditEntry {
		return store.AuditEntry{Actor: "api:" + tok.Name, Action: "message.send", Target: fmt.Sprintf("消息 #%d", m.ID),
			Detail: fmt.Sprintf("%s → %s（%d 人）：%s", kindLabel(m.Kind), to, m.Total, s.messageRow(m).Summary)}
	}

	m, err := outbox.Enqueue(ctx, s.Store, req)
	var ie *outbox.InputError
	if errors.As(err, &ie) {
		fields := map[string]string{}
		for k, v := range ie.Fields {
			fields[apiField(k, req.All)] = v
		}
		if _, ok := ie.Fields["to"]; ok && len(ie.Fields) == 1 {
			// Users exist (checked above) but cannot be reached yet.
			return &apiError{Status: http.StatusUnprocessableEntity, Code: "not_bound",
				Message: "recipients have not bound WeChat", Fields: fields}
		}
		return badRequest(summarize(fields), fields)
	}
	if err != nil {
		return err
	}
	if s.Outbox != nil {
		s.Outbox.Notify()
	}
	s.logger(ctx).Info("message queued", "message", m.ID, "kind", m.Kind, "recipients", m.Total, "api_token", tok.ID)
	loc := "/api/v1/messages/" + strconv.FormatInt(m.ID, 10)
	w.Header().Set("Location", loc)
	writeAPIJSON(w, http.StatusAccepted, map[string]any{"id": m.ID, "recipients": m.Total, "status_url": loc})
	return nil
}

// joinLimited lists names, the first n of them.
func joinLimited(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, "、")
	}
	return fmt.Sprintf("%s 等 %d 人", strings.Join(names[:n], "、"), len(names))
}

type apiCounts struct {
	Queued   int `json:"queued"`
	Sending  int `json:"sending"`
	Sent     int `json:"sent"`
	Retrying int `json:"retrying"`
	Failed   int `json:"failed"`
	Unknown  int `json:"unknown"`
}

type apiRecipient struct {
	User          string  `json:"user"`
	OpenID        string  `json:"openid"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	ErrCode       int     `json:"errcode"`
	ErrMsg        string  `json:"errmsg"`
	MsgID         *string `json:"msgid"` // a string: JavaScript loses 64-bit integers
	Receipt       *string `json:"receipt"`
	NextAttemptAt *string `json:"next_attempt_at,omitempty"`
	UpdatedAt     string  `json:"updated_at"`
}

type apiMessage struct {
	ID         int64          `json:"id"`
	Kind       string         `json:"kind"`
	Source     string         `json:"source"`
	CreatedAt  string         `json:"created_at"`
	Total      int            `json:"total"`
	Counts     apiCounts      `json:"counts"`
	Done       bool           `json:"done"`
	Recipients []apiRecipient `json:"recipients"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// apiMessage reports a message's deliveries: GET /api/v1/messages/{id}.
func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	notFound := &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such message"}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound
	}
	m, err := s.Store.Message(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	ds, err := s.Store.Deliveries(r.Context(), id)
	if err != nil {
		return err
	}
	c := m.Counts
	out := apiMessage{ID: m.ID, Kind: m.Kind, Source: m.Source, CreatedAt: rfc3339(m.CreatedAt), Total: m.Total,
		Counts: apiCounts{Queued: c.Queued, Sending: c.Sending, Sent: c.Sent, Retrying: c.Retrying, Failed: c.Failed, Unknown: c.Unknown},
		Done:   c.Pending() == 0, Recipients: make([]apiRecipient, len(ds))}
	for i, d := range ds {
		rc := apiRecipient{User: d.UserName, OpenID: wechat.MaskOpenID(d.OpenID), State: d.State, Attempts: d.Attempts,
			ErrCode: d.ErrCode, ErrMsg: d.ErrMsg, UpdatedAt: rfc3339(d.UpdatedAt)}
		if d.MsgID != 0 {
			id := strconv.FormatInt(d.MsgID, 10)
			rc.MsgID = &id
		}
		if d.Receipt != "" {
			rc.Receipt = &d.Receipt
		}
		if d.State == store.StateRetrying && !d.NextAttemptAt.IsZero() {
			at := rfc3339(d.NextAttemptAt)
			rc.NextAttemptAt = &at
		}
		out.Recipients[i] = rc
	}
	writeAPIJSON(w, http.StatusOK, out)
	return nil
}

type apiUser struct {
	Name      string  `json:"name"`
	Bound     bool    `json:"bound"`
	OpenID    *string `json:"openid"`
	BoundAt   *string `json:"bound_at"`
	Following *bool   `json:"following"`
	InWindow  bool    `json:"in_window"`
}

// apiUsers lists the users and whether they can be reached: GET /api/v1/users.
func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	people, err := s.Store.People(r.Context())
	if err != nil {
		return err
	}
	out := make([]apiUser, len(people))
	now := s.Now()
	for i, p := range people {
		u := apiUser{Name: p.Name, Bound: p.Bound, Following: p.Following}
		if p.Bound {
			openid, at := wechat.MaskOpenID(p.OpenID), rfc3339(p.BoundAt)
			u.OpenID, u.BoundAt = &openid, &at
			u.InWindow = inWindow(now, p.LastInteraction, p.LastEvent)
		}
		out[i] = u
	}
	writeAPIJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// apiOpenAPI serves the API's description: GET /api/v1/openapi.json.
func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openAPIDoc)
	return nil
}
