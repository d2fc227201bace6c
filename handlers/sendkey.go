package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// settingSendKeyTemplate holds how a push through a personal send key maps
// onto a template message.
const settingSendKeyTemplate = "sendkey_template"

// SendKeyTemplate maps a push's title and content onto template fields.
type SendKeyTemplate struct {
	TemplateID string `json:"template_id"`
	TitleKey   string `json:"title_key"`
	ContentKey string `json:"content_key"`
}

// sendKeyTemplate returns the configured mapping, or — until an admin
// chooses one — a template that has both a title and a content field.
func (s *Server) sendKeyTemplate(ctx context.Context) (SendKeyTemplate, store.Template, error) {
	var m SendKeyTemplate
	if raw, err := s.Store.Setting(ctx, settingSendKeyTemplate); err == nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return m, store.Template{}, err
		}
		t, err := s.Store.Template(ctx, m.TemplateID)
		return m, t, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return m, store.Template{}, err
	}
	ts, err := s.Store.Templates(ctx)
	if err != nil {
		return m, store.Template{}, err
	}
	for _, t := range ts {
		keys := wechat.Template{Content: t.Content}.Keys()
		if slices.Contains(keys, "title") && slices.Contains(keys, "content") {
			return SendKeyTemplate{TemplateID: t.ID, TitleKey: "title", ContentKey: "content"}, t, nil
		}
	}
	return m, store.Template{}, store.ErrNotFound
}

// fitField shortens a value to what a category-template field takes (§4:
// thing ≤ 20 characters), marking the cut, so a long title still arrives.
func fitField(key, v string) string {
	if strings.TrimRight(key, "0123456789") == "thing" && utf8.RuneCountInString(v) > 20 {
		return string([]rune(v)[:19]) + "…"
	}
	return v
}

// sendKeyError is the JSON error answer of /send/{key}.
func sendKeyError(w http.ResponseWriter, status int, code, msg string, fields map[string]string) {
	body := map[string]any{"code": code, "message": msg}
	if len(fields) > 0 {
		body["fields"] = fields
	}
	writeAPIJSON(w, status, map[string]any{"error": body})
}

// pushParams reads title, content (alias desp) and url from the query
// (GET) or a form or JSON body (POST).
func pushParams(r *http.Request) (title, content, link string, err error) {
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/json" {
			var body struct {
				Title   string `json:"title"`
				Content string `json:"content"`
				Desp    string `json:"desp"`
				URL     string `json:"url"`
			}
			dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
			if err := dec.Decode(&body); err != nil {
				return "", "", "", fmt.Errorf("请求体不是有效的 JSON：%v", err)
			}
			if body.Content == "" {
				body.Content = body.Desp
			}
			return strings.TrimSpace(body.Title), strings.TrimSpace(body.Content), strings.TrimSpace(body.URL), nil
		}
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return "", "", "", fmt.Errorf("无法解析表单：%v", err)
		}
	}
	get := func(k string) string { return strings.TrimSpace(r.FormValue(k)) }
	content = get("content")
	if content == "" {
		content = get("desp")
	}
	return get("title"), content, get("url"), nil
}

// sendByKey pushes a template message to the key's owner: the personal
// push URL that scripts, cron jobs and CI call (GET or POST).
func (s *Server) sendByKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	key := r.PathValue("key")
	if !strings.HasPrefix(key, store.SendKeyPrefix) || len(key) > 64 {
		sendKeyError(w, http.StatusNotFound, "unknown_key", "推送链接无效：没有这个 key。", nil)
		return nil
	}
	u, err := s.Store.UserBySendKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		sendKeyError(w, http.StatusNotFound, "unknown_key", "推送链接无效或已重新生成：没有这个 key。", nil)
		return nil
	}
	if err != nil {
		return err
	}
	if ok, wait := s.sendKeyLimit.allow(u.ID, s.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		sendKeyError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("推送太频繁，请 %d 秒后再试。", secs), nil)
		return nil
	}
	title, content, link, err := pushParams(r)
	if err != nil {
		sendKeyError(w, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return nil
	}
	if title == "" {
		sendKeyError(w, http.StatusBadRequest, "invalid_request", "缺少 title。", map[string]string{"title": "请填写标题。"})
		return nil
	}
	m, tpl, err := s.sendKeyTemplate(ctx)
	if errors.Is(err, store.ErrNotFound) {
		sendKeyError(w, http.StatusServiceUnavailable, "no_template", "管理员还没有设置推送链接使用的模板消息。", nil)
		return nil
	}
	if err != nil {
		return err
	}
	data := map[string]string{}
	for _, k := range (wechat.Template{Content: tpl.Content}).Keys() {
		switch k {
		case m.TitleKey:
			data[k] = fitField(k, title)
		case m.ContentKey:
			if content == "" {
				content = title
			}
			data[k] = fitField(k, content)
		}
	}
	msg, err := outbox.Enqueue(ctx, s.Store, outbox.Request{Kind: store.KindTemplate, TemplateID: m.TemplateID,
		Data: data, URL: link, UserIDs: []int64{u.ID}, Source: "sendkey", CreatedBy: u.ID})
	var ie *outbox.InputError
	if errors.As(err, &ie) {
		status := http.StatusBadRequest
		if _, ok := ie.Fields["to"]; ok {
			status = http.StatusConflict // not bound
			ie.Fields = map[string]string{"to": "你的账号还没有绑定微信，请先在网站上绑定。"}
		}
		for k, v := range ie.Fields {
			switch {
			case k == "data."+m.TitleKey:
				delete(ie.Fields, k)
				ie.Fields["title"] = v
			case k == "data."+m.ContentKey:
				delete(ie.Fields, k)
				ie.Fields["content"] = v
			}
		}
		sendKeyError(w, status, "invalid_request", "消息没有发送。", ie.Fields)
		return nil
	}
	if err != nil {
		return err
	}
	if s.Outbox != nil {
		s.Outbox.Notify()
	}
	writeAPIJSON(w, http.StatusAccepted, map[string]any{"code": 0, "message": "ok", "data": map[string]any{"id": msg.ID}})
	return nil
}

// rotateSendKey makes a new personal send key and shows it once.
func (s *Server) rotateSendKey(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	_, had := s.Store.SendKey(r.Context(), u.ID)
	key, err := s.Store.RotateSendKey(r.Context(), u.ID)
	if err != nil {
		return err
	}
	s.logger(r.Context()).Info("send key rotated", "user", u.PublicID)
	msg := "已生成推送链接。"
	if had == nil {
		msg = "已重新生成推送链接，旧链接已失效。"
	}
	return s.renderAccount(w, r, msg, s.Config.BaseURL.JoinPath("/send", key).String())
}

// sendKeyView describes the user's key for the account page.
func (s *Server) sendKeyView(ctx context.Context, u store.User) (*views.SendKey, error) {
	k, err := s.Store.SendKey(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := &views.SendKey{URL: s.Config.BaseURL.JoinPath("/send").String() + "/" + k.Prefix + "…", Created: fmtTime(k.CreatedAt)}
	if !k.LastUsedAt.IsZero() {
		v.LastUsed = fmtTime(k.LastUsedAt)
	}
	return v, nil
}
