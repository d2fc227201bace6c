package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// settingSendKeyTemplate holds how a notification (a push through a
// personal send key, an API or dashboard notification, a text message's
// fallback) maps onto a template message.
const settingSendKeyTemplate = "sendkey_template"

// SendKeyTemplate is the notification template: which template
// notifications are sent as, and which of its fields take the title, the
// summary and the send time.
type SendKeyTemplate struct {
	TemplateID string `json:"template_id"`
	TitleKey   string `json:"title_key"`
	// ContentKey takes the summary: the sender's, or the start of the
	// content (the detail page has the rest).
	ContentKey string `json:"content_key"`
	TimeKey    string `json:"time_key,omitempty"` // optional
	// Auto is true while no admin has chosen: the first template with a
	// title and a content field is used.
	Auto bool `json:"-"`
}

// SendKeyTemplate returns the configured notification template, or —
// until an admin chooses one — a template that has both a title and a
// content field (and its time field, if it has one). ENotFound when there
// is neither.
func (s *Service) SendKeyTemplate(ctx context.Context) (SendKeyTemplate, store.Template, error) {
	var m SendKeyTemplate
	if raw, err := s.store.Setting(ctx, settingSendKeyTemplate); err == nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return m, store.Template{}, err
		}
		t, err := s.store.Template(ctx, m.TemplateID)
		if errors.Is(err, store.ErrNotFound) {
			return m, t, &Error{Code: ENotFound, Message: "推送链接使用的模板已不存在。"}
		}
		return m, t, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return m, store.Template{}, err
	}
	ts, err := s.store.Templates(ctx)
	if err != nil {
		return m, store.Template{}, err
	}
	for _, t := range ts {
		keys := wechat.Template{Content: t.Content}.Keys()
		if slices.Contains(keys, "title") && slices.Contains(keys, "content") {
			m := SendKeyTemplate{TemplateID: t.ID, TitleKey: "title", ContentKey: "content", Auto: true}
			for _, k := range keys {
				if p := strings.TrimRight(k, "0123456789"); m.TimeKey == "" && (p == "time" || p == "date") {
					m.TimeKey = k
				}
			}
			return m, t, nil
		}
	}
	return m, store.Template{}, &Error{Code: ENotFound, Message: "还没有可用于推送链接的模板。"}
}

// SetSendKeyTemplate chooses the notification template and which of its
// fields take the title, the summary and (optionally) the time.
func (s *Service) SetSendKeyTemplate(ctx context.Context, by Actor, m SendKeyTemplate) error {
	m.TitleKey, m.ContentKey, m.TimeKey = strings.TrimSpace(m.TitleKey), strings.TrimSpace(m.ContentKey), strings.TrimSpace(m.TimeKey)
	t, err := s.store.Template(ctx, m.TemplateID)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: EInvalid, Message: "模板不存在，请先同步模板。", Fields: map[string]string{"template_id": "模板不存在，请先同步模板。"}}
	}
	if err != nil {
		return err
	}
	keys := wechat.Template{Content: t.Content}.Keys()
	if !slices.Contains(keys, m.TitleKey) || (m.ContentKey != "" && !slices.Contains(keys, m.ContentKey)) || m.TitleKey == m.ContentKey {
		return &Error{Code: EInvalid, Message: fmt.Sprintf("标题和内容需填入模板「%s」中两个不同的字段：%s。", t.Title, strings.Join(keys, "、"))}
	}
	if m.TimeKey != "" && (!slices.Contains(keys, m.TimeKey) || m.TimeKey == m.TitleKey || m.TimeKey == m.ContentKey) {
		return &Error{Code: EInvalid, Message: fmt.Sprintf("时间需填入模板「%s」中另一个字段（或留空）：%s。", t.Title, strings.Join(keys, "、")),
			Fields: map[string]string{"time_key": "不是模板中另一个字段。"}}
	}
	b, _ := json.Marshal(m)
	if err := s.store.SetSetting(ctx, settingSendKeyTemplate, b); err != nil {
		return err
	}
	s.audit(ctx, by, "sendkey.template", t.Title, fmt.Sprintf("title→%s, summary→%s, time→%s", m.TitleKey, m.ContentKey, m.TimeKey))
	return nil
}

// SendKeyOwner returns the user a personal push key belongs to; ENotFound
// (reason "unknown_key") for keys that are malformed, unknown or replaced.
func (s *Service) SendKeyOwner(ctx context.Context, key string) (store.User, error) {
	unknown := &Error{Code: ENotFound, Reason: "unknown_key", Message: "推送链接无效或已重新生成：没有这个 key。"}
	if !strings.HasPrefix(key, store.SendKeyPrefix) || len(key) > 64 {
		return store.User{}, unknown
	}
	u, err := s.store.UserBySendKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return u, unknown
	}
	return u, err
}

// Push is a title-and-content notification, the shape of a personal push
// URL (and of Server酱's API, which it follows).
type Push struct {
	Title       string
	Content     string
	ContentType string // store.ContentText (default) or store.ContentMarkdown
	Summary     string // optional; derived from Content
	URL         string
	Idempotency *Idempotency // optional: see SendRequest
}

// PushToUser sends a push to one user as a notification (KindNotification).
// Field errors are reported as "title", "content", "summary",
// "content_type", "url" or "to"; an unbound user is EConflict "not_bound";
// no usable template is EUnavailable "no_template"; content over
// MaxContentBytes is ETooLarge.
func (s *Service) PushToUser(ctx context.Context, u store.User, p Push) (store.Message, error) {
	msg, err := s.Send(ctx, Actor{UserID: u.ID, Name: u.Name, Via: "sendkey"}, SendRequest{
		Kind: KindNotification, Title: p.Title, Content: p.Content, ContentType: p.ContentType, Summary: p.Summary,
		URL: p.URL, UserIDs: []int64{u.ID}, Idempotency: p.Idempotency})
	var e *Error
	if errors.As(err, &e) && e.Fields["to"] != "" {
		if cur, rerr := s.store.UserByID(ctx, u.ID); rerr != nil || cur.Disabled() {
			// Disabled (or deleted) after the key was looked up.
			return msg, &Error{Code: EForbidden, Reason: "account_disabled", Message: "这个账号已停用，推送链接不可用。"}
		}
	}
	if errors.As(err, &e) && e.Fields != nil && e.Code != ETooLarge {
		if _, ok := e.Fields["to"]; ok {
			e.Fields["to"] = "你的账号还没有绑定微信，请先在网站上绑定。"
		}
		e.Message = "消息没有发送。"
	}
	return msg, err
}

// FitField shortens a value to what a category-template field takes
// (docs/wechat.md, "Template message": thing ≤ 20 characters), marking the
// cut, so a long title still arrives.
func FitField(key, v string) string {
	if strings.TrimRight(key, "0123456789") == "thing" && utf8.RuneCountInString(v) > 20 {
		return string([]rune(v)[:19]) + "…"
	}
	return v
}

// RotateSendKey makes a new personal push key for the user (the old one
// stops working) and returns it; replaced reports whether there was one.
func (s *Service) RotateSendKey(ctx context.Context, u store.User) (key string, replaced bool, err error) {
	_, had := s.store.SendKey(ctx, u.ID)
	key, err = s.store.RotateSendKey(ctx, u.ID)
	if err != nil {
		return "", false, err
	}
	s.log.Info("send key rotated", "user", u.PublicID)
	return key, had == nil, nil
}
