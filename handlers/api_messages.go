package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// apiSendBody is the body of POST /api/v1/messages.
type apiSendBody struct {
	To       *apiTo       `json:"to"`
	Text     *string      `json:"text"`
	Template *apiTemplate `json:"template"`

	// The notification shape: title and content, sent as the notification
	// template with a link to the detail page.
	Title       *string `json:"title"`
	Content     string  `json:"content"`
	ContentType string  `json:"content_type"`
	Summary     string  `json:"summary"`
	URL         string  `json:"url"`

	// Fallback false keeps a text a text outside the customer-service window.
	Fallback *bool `json:"fallback"`
}

type apiTo struct {
	Users  []string `json:"users"`
	Topics []string `json:"topics"`
	All    bool     `json:"all"`
}

type apiTemplate struct {
	ID   string            `json:"id"`
	Data map[string]string `json:"data"`
	URL  string            `json:"url"`
}

// request checks the body's shape and turns it into a send request (the
// use case checks the content).
func (b apiSendBody) request() (service.SendRequest, error) {
	fields := map[string]string{}
	var req service.SendRequest
	switch {
	case b.To == nil || (b.To.Users == nil && b.To.Topics == nil && !b.To.All):
		fields["to"] = `请指定接收人：{"users": ["用户名", …]}、{"topics": ["主题", …]}（可与 users 同用）或 {"all": true}。`
	case (b.To.Users != nil || b.To.Topics != nil) && b.To.All:
		fields["to"] = "all 不能与 users 或 topics 同用。"
	case b.To.All:
		req.All = true
	case b.To.Users != nil && len(b.To.Users) == 0:
		fields["to.users"] = "至少填写一个用户名。"
	case len(b.To.Users) > apiMaxUsers:
		fields["to.users"] = fmt.Sprintf(`一次最多 %d 个用户；发给所有已绑定用户请用 {"all": true}。`, apiMaxUsers)
	case b.To.Topics != nil && len(b.To.Topics) == 0:
		fields["to.topics"] = "至少填写一个主题。"
	case len(b.To.Topics) > service.MaxSendTopics:
		fields["to.topics"] = fmt.Sprintf("一次最多 %d 个主题。", service.MaxSendTopics)
	default:
		req.UserNames, req.Topics = b.To.Users, b.To.Topics
	}
	shapes := 0
	for _, set := range []bool{b.Text != nil, b.Template != nil, b.Title != nil} {
		if set {
			shapes++
		}
	}
	notification := b.Content != "" || b.ContentType != "" || b.Summary != "" || b.URL != ""
	switch {
	case shapes > 1:
		for k, set := range map[string]bool{"text": b.Text != nil, "template": b.Template != nil, "title": b.Title != nil} {
			if set {
				fields[k] = "text、template 和 title（通知）只能选一种。"
			}
		}
	case notification && b.Title == nil:
		fields["title"] = "通知需要 title。"
	case b.Title != nil:
		req.Kind, req.Title, req.Content, req.ContentType, req.Summary, req.URL =
			service.KindNotification, *b.Title, b.Content, b.ContentType, b.Summary, b.URL
	case b.Text != nil:
		req.Kind, req.Text = store.KindText, *b.Text
	case b.Template != nil:
		req.Kind, req.TemplateID, req.Data, req.URL = store.KindTemplate, b.Template.ID, b.Template.Data, strings.TrimSpace(b.Template.URL)
	default:
		fields["text"] = "请填写 title 和 content（通知）、text（客服消息）或 template（模板消息）。"
	}
	req.NoFallback = b.Fallback != nil && !*b.Fallback
	if len(fields) > 0 {
		return req, badRequest(summarize(fields), fields)
	}
	return req, nil
}

// apiField turns a send's field name into the body's JSON path.
func apiField(key string, all bool, kind string) string {
	switch {
	case key == "to" && !all:
		return "to.users"
	case key == "topics":
		return "to.topics"
	case key == "template":
		return "template.id"
	case key == "url" && kind == store.KindTemplate:
		return "template.url"
	case strings.HasPrefix(key, "data."):
		return "template." + key
	}
	return key
}

// summarize names the faulty fields in one line; fields says what is
// wrong with each.
func summarize(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "这些字段有误：" + strings.Join(keys, "、") + "（详见 fields）。"
}

// apiSend queues a message: POST /api/v1/messages.
func (s *Server) apiSend(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	idem, err := idempotency(r, "token:"+strconv.FormatInt(tok.ID, 10))
	if err != nil {
		return err
	}
	var body apiSendBody
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	req.Idempotency = idem
	m, err := s.App.Send(r.Context(), service.APIActor(tok), req)
	var se *service.Error
	if errors.As(err, &se) && se.Fields != nil {
		fields := map[string]string{}
		for k, v := range se.Fields {
			fields[apiField(k, req.All, req.Kind)] = v
		}
		switch se.Reason {
		case "unknown_user":
			return &Error{Status: http.StatusNotFound, Code: "unknown_user",
				Message: "用户不存在：" + strings.Join(unknownNames(r.Context(), s, body.To.Users), "、") + "。", Fields: fields}
		case service.ReasonUnknownTopic:
			return &Error{Status: http.StatusNotFound, Code: service.ReasonUnknownTopic, Message: "主题不存在。", Fields: fields}
		case "not_bound":
			return &Error{Status: http.StatusUnprocessableEntity, Code: "not_bound",
				Message: "有接收人还没有绑定微信（详见 fields）。", Fields: fields}
		case service.ReasonTooLarge:
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: fmt.Sprintf("内容超过 %d KB。", service.MaxContentBytes>>10), Fields: fields}
		}
		return badRequest(summarize(fields), fields)
	}
	if se != nil && se.Reason == "idempotency_key_reused" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: se.Reason, Message: se.Message}
	}
	if err != nil {
		return err
	}
	markReplayed(w, idem)
	loc := "/api/v1/messages/" + strconv.FormatInt(m.ID, 10)
	w.Header().Set("Location", loc)
	out := map[string]any{"id": m.ID, "recipients": m.Total, "status_url": loc}
	if m.Page != nil {
		out["page_url"] = s.App.PageURL(m.Page.Token)
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// unknownNames lists the names no user has, for the message.
func unknownNames(ctx context.Context, s *Server, names []string) []string {
	var out []string
	for _, n := range names {
		if _, err := s.Store.UserByName(ctx, n); errors.Is(err, store.ErrNotFound) {
			out = append(out, n)
		}
	}
	return out
}

type apiCounts struct {
	Queued   int `json:"queued"`
	Sending  int `json:"sending"`
	Sent     int `json:"sent"`
	Retrying int `json:"retrying"`
	Failed   int `json:"failed"`
	Unknown  int `json:"unknown"` // may have reached WeChat; not retried (结果未知)
}

type apiRecipient struct {
	User          string  `json:"user"`
	OpenID        string  `json:"openid"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	ErrCode       int     `json:"errcode"`
	ErrMsg        string  `json:"errmsg"`
	Via           string  `json:"via"`   // the API the last attempt used: text or template
	MsgID         *string `json:"msgid"` // a string: JavaScript loses 64-bit integers
	Receipt       *string `json:"receipt"`
	NextAttemptAt *string `json:"next_attempt_at,omitempty"`
	UpdatedAt     string  `json:"updated_at"`
}

type apiMessage struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Source    string    `json:"source"`
	CreatedAt string    `json:"created_at"`
	Total     int       `json:"total"`
	Counts    apiCounts `json:"counts"`
	Done      bool      `json:"done"`
	// While WeChat's daily quota (45009) stops this message's kind, when
	// sending resumes and why.
	PausedUntil  *string `json:"paused_until"`
	PausedReason *string `json:"paused_reason"`
	// The outbox's queue and this message's place in it; null once done.
	Backlog    *apiMessageBacklog `json:"backlog"`
	Recipients []apiRecipient     `json:"recipients"`
}

// apiMessage reports a message's deliveries: GET /api/v1/messages/{id}.
func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	notFound := apiErr(http.StatusNotFound, "not_found", "没有这条消息。")
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
	out := apiMessage{ID: m.ID, Kind: m.Kind, Source: m.Source, CreatedAt: s.rfc3339(m.CreatedAt), Total: m.Total,
		Counts: apiCounts{Queued: c.Queued, Sending: c.Sending, Sent: c.Sent, Retrying: c.Retrying, Failed: c.Failed, Unknown: c.Unknown},
		Done:   c.Pending() == 0, Recipients: make([]apiRecipient, len(ds))}
	if out.Backlog, err = s.apiMessageBacklogOf(r.Context(), m.ID, out.Done); err != nil {
		return err
	}
	for _, p := range s.App.Paused() {
		if p.Kind == m.Kind && !out.Done {
			until, reason := s.rfc3339(p.Until), p.Reason
			out.PausedUntil, out.PausedReason = &until, &reason
		}
	}
	for i, d := range ds {
		rc := apiRecipient{User: d.UserName, OpenID: wechat.MaskOpenID(d.OpenID), State: d.State, Attempts: d.Attempts,
			ErrCode: d.ErrCode, ErrMsg: d.ErrMsg, UpdatedAt: s.rfc3339(d.UpdatedAt), Via: d.Kind}
		if d.Via != "" {
			rc.Via = d.Via
		}
		if d.MsgID != 0 {
			id := strconv.FormatInt(d.MsgID, 10)
			rc.MsgID = &id
		}
		if d.Receipt != "" {
			rc.Receipt = &d.Receipt
		}
		if d.State == store.StateRetrying && !d.NextAttemptAt.IsZero() {
			at := s.rfc3339(d.NextAttemptAt)
			rc.NextAttemptAt = &at
		}
		out.Recipients[i] = rc
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type apiUser struct {
	Name      string  `json:"name"`
	Bound     bool    `json:"bound"`
	Disabled  bool    `json:"disabled"`
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
		u := apiUser{Name: p.Name, Bound: p.Bound, Disabled: p.Disabled(), Following: p.Following}
		if p.Bound {
			openid, at := wechat.MaskOpenID(p.OpenID), s.rfc3339(p.BoundAt)
			u.OpenID, u.BoundAt = &openid, &at
			u.InWindow = service.InWindow(now, p.LastInteraction, p.LastEvent)
		}
		out[i] = u
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// apiOpenAPI serves the API's description: GET /api/v1/openapi.json.
func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openAPIDoc)
	return nil
}
