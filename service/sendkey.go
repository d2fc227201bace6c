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

// settingSendKeyTemplate holds how a push through a personal send key maps
// onto a template message.
const settingSendKeyTemplate = "sendkey_template"

// SendKeyTemplate maps a push's title and content onto template fields.
type SendKeyTemplate struct {
	TemplateID string `json:"template_id"`
	TitleKey   string `json:"title_key"`
	ContentKey string `json:"content_key"`
	// Auto is true while no admin has chosen: the first template with a
	// title and a content field is used.
	Auto bool `json:"-"`
}

// SendKeyTemplate returns the configured mapping, or — until an admin
// chooses one — a template that has both a title and a content field.
// ENotFound when there is neither.
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
			return SendKeyTemplate{TemplateID: t.ID, TitleKey: "title", ContentKey: "content", Auto: true}, t, nil
		}
	}
	return m, store.Template{}, &Error{Code: ENotFound, Message: "还没有可用于推送链接的模板。"}
}

// SetSendKeyTemplate chooses the template personal push URLs use and which
// of its fields take the title and the content.
func (s *Service) SetSendKeyTemplate(ctx context.Context, by Actor, m SendKeyTemplate) error {
	m.TitleKey, m.ContentKey = strings.TrimSpace(m.TitleKey), strings.TrimSpace(m.ContentKey)
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
	b, _ := json.Marshal(m)
	if err := s.store.SetSetting(ctx, settingSendKeyTemplate, b); err != nil {
		return err
	}
	s.audit(ctx, by, "sendkey.template", t.Title, fmt.Sprintf("title→%s, content→%s", m.TitleKey, m.ContentKey))
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
	URL         string
	Idempotency *Idempotency // optional: see SendRequest
}

// PushToUser sends a push to one user as the template message the admin
// chose for personal push URLs. Field errors are reported as "title",
// "content", "url" or "to"; an unbound user is EConflict "not_bound";
// no usable template is EUnavailable "no_template".
func (s *Service) PushToUser(ctx context.Context, u store.User, p Push) (store.Message, error) {
	p.Title, p.Content, p.URL = strings.TrimSpace(p.Title), strings.TrimSpace(p.Content), strings.TrimSpace(p.URL)
	if p.Title == "" {
		return store.Message{}, &Error{Code: EInvalid, Reason: "invalid_request", Message: "缺少 title。", Fields: map[string]string{"title": "请填写标题。"}}
	}
	m, tpl, err := s.SendKeyTemplate(ctx)
	if ErrorCode(err) == ENotFound {
		return store.Message{}, &Error{Code: EUnavailable, Reason: "no_template", Message: "管理员还没有设置推送链接使用的模板消息。"}
	}
	if err != nil {
		return store.Message{}, err
	}
	if p.Content == "" {
		p.Content = p.Title
	}
	data := map[string]string{}
	for _, k := range (wechat.Template{Content: tpl.Content}).Keys() {
		switch k {
		case m.TitleKey:
			data[k] = FitField(k, p.Title)
		case m.ContentKey:
			data[k] = FitField(k, p.Content)
		}
	}
	msg, err := s.Send(ctx, Actor{UserID: u.ID, Name: u.Name, Via: "sendkey"},
		SendRequest{Kind: store.KindTemplate, TemplateID: m.TemplateID, Data: data, URL: p.URL, UserIDs: []int64{u.ID},
			Idempotency: p.Idempotency})
	var e *Error
	if errors.As(err, &e) && e.Fields["to"] != "" {
		if cur, rerr := s.store.UserByID(ctx, u.ID); rerr != nil || cur.Disabled() {
			// Disabled (or deleted) after the key was looked up.
			return msg, &Error{Code: EForbidden, Reason: "account_disabled", Message: "这个账号已停用，推送链接不可用。"}
		}
	}
	if errors.As(err, &e) && e.Fields != nil {
		// Name the fields as the caller sent them.
		fields := map[string]string{}
		for k, v := range e.Fields {
			switch k {
			case "data." + m.TitleKey:
				k = "title"
			case "data." + m.ContentKey:
				k = "content"
			case "to":
				v = "你的账号还没有绑定微信，请先在网站上绑定。"
			}
			fields[k] = v
		}
		e.Fields, e.Message = fields, "消息没有发送。"
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
