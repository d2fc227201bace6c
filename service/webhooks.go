package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
)

// Webhooks: admins register endpoints that receive signed events. The
// events themselves are written by the store in the transactions of the
// changes that cause them; the webhooks package delivers them.

// WebhookSecretPrefix starts every signing secret.
const WebhookSecretPrefix = "whsec_"

// Limits of an endpoint's fields.
const (
	maxWebhookURL         = 2048
	maxWebhookDescription = 200
	// MaxWebhookEndpoints bounds the endpoints of a site: each event is
	// queued once per subscribed endpoint, in the transaction of its change.
	MaxWebhookEndpoints = 20
	// MaxWebhookGrace bounds how long a rotated-out secret keeps signing.
	MaxWebhookGrace = 7 * 24 * time.Hour
)

// WebhookInput is a new endpoint as an admin or a program describes it.
type WebhookInput struct {
	URL         string
	Events      []string
	Description string
}

// WebhookEventLabels names the event types for people, in the order the
// dashboard lists them.
var WebhookEventLabels = map[string]string{
	store.EventBindingCreated:   "用户绑定微信",
	store.EventBindingRemoved:   "用户解除绑定",
	store.EventUserFollowed:     "用户关注公众号",
	store.EventUserUnfollowed:   "用户取消关注",
	store.EventUserMessage:      "用户发来文字消息",
	store.EventDeliveryFinished: "单个投递结束（成功、失败、状态未知或微信回执）",
	store.EventMessageFinished:  "整条消息的全部投递结束",
}

func (in *WebhookInput) check() error {
	f := fieldErrors{}
	in.URL = strings.TrimSpace(in.URL)
	in.Description = strings.TrimSpace(in.Description)
	u, err := url.Parse(in.URL)
	switch {
	case in.URL == "":
		f.add("url", "请填写接收事件的 URL。")
	case len(in.URL) > maxWebhookURL:
		f.add("url", fmt.Sprintf("URL 最长 %d 个字符。", maxWebhookURL))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		f.add("url", "请填写完整的 http:// 或 https:// 地址。")
	case u.User != nil:
		f.add("url", "URL 中不能带用户名或密码；用签名验证请求来源。")
	case u.Fragment != "":
		f.add("url", "URL 中不能带 #。")
	}
	seen := map[string]bool{}
	var events []string
	for _, e := range in.Events {
		e = strings.TrimSpace(e)
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		if !slices.Contains(store.WebhookEventTypes, e) {
			f.add("events", fmt.Sprintf("没有事件类型 %q；可选：%s。", e, strings.Join(store.WebhookEventTypes, "、")))
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		f.add("events", "至少选择一种事件。")
	}
	// Keep the documented order, whatever order they came in.
	slices.SortFunc(events, func(a, b string) int {
		return slices.Index(store.WebhookEventTypes, a) - slices.Index(store.WebhookEventTypes, b)
	})
	in.Events = events
	if utf8.RuneCountInString(in.Description) > maxWebhookDescription {
		f.add("description", fmt.Sprintf("说明最多 %d 个字符。", maxWebhookDescription))
	}
	if len(f) > 0 {
		return &Error{Code: EInvalid, Message: firstField(f, "url", "events", "description"), Fields: f}
	}
	return nil
}

// firstField is the message of the first of keys that has one.
func firstField(f fieldErrors, keys ...string) string {
	for _, k := range keys {
		if m, ok := f[k]; ok {
			return m
		}
	}
	return ""
}

func newWebhookSecret() string { return WebhookSecretPrefix + store.RandomToken(32) }

// CreateWebhook registers an endpoint and returns it with its signing
// secret — shown this once.
func (s *Service) CreateWebhook(ctx context.Context, by Actor, in WebhookInput) (string, store.WebhookEndpoint, error) {
	if err := in.check(); err != nil {
		return "", store.WebhookEndpoint{}, err
	}
	all, err := s.store.WebhookEndpoints(ctx)
	if err != nil {
		return "", store.WebhookEndpoint{}, err
	}
	if len(all) >= MaxWebhookEndpoints {
		return "", store.WebhookEndpoint{}, &Error{Code: EConflict, Reason: "too_many_endpoints",
			Message: fmt.Sprintf("最多 %d 个 Webhook 端点；请先删除不用的。", MaxWebhookEndpoints)}
	}
	secret := newWebhookSecret()
	e, err := s.store.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: in.URL, Events: in.Events,
		Description: in.Description, CreatedBy: by.UserID}, secret)
	if err != nil {
		return "", e, err
	}
	s.audit(ctx, by, "webhook.create", webhookTarget(e), strings.Join(e.Events, " "))
	s.log.Info("webhook endpoint created", "endpoint", e.PublicID, "by", by.Name)
	return secret, e, nil
}

func webhookTarget(e store.WebhookEndpoint) string {
	return "Webhook " + redactURL(e.URL)
}

// redactURL drops a URL's query string, which may carry the receiver's
// own token, for the audit log.
func redactURL(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// Webhook returns one endpoint by its public id.
func (s *Service) Webhook(ctx context.Context, id string) (store.WebhookEndpoint, error) {
	e, err := s.store.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return e, &Error{Code: ENotFound, Message: "没有这个 Webhook 端点。"}
	}
	return e, err
}

// DeleteWebhook removes an endpoint, its queue and its log.
func (s *Service) DeleteWebhook(ctx context.Context, by Actor, id string) error {
	e, err := s.Webhook(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhookEndpoint(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.audit(ctx, by, "webhook.delete", webhookTarget(e), "")
	return nil
}

// RotateWebhookSecret gives an endpoint a new secret (returned, shown
// once); the old one signs too for grace (0: it stops at once), so that
// the receiver can switch keys without refusing events meanwhile.
func (s *Service) RotateWebhookSecret(ctx context.Context, by Actor, id string, grace time.Duration) (string, error) {
	if grace < 0 || grace > MaxWebhookGrace {
		msg := "过渡期应在 0 到 7 天之间。"
		return "", &Error{Code: EInvalid, Message: msg, Fields: map[string]string{"grace": msg}}
	}
	e, err := s.Webhook(ctx, id)
	if err != nil {
		return "", err
	}
	var until time.Time
	if grace > 0 {
		until = s.now().Add(grace)
	}
	secret := newWebhookSecret()
	if err := s.store.RotateWebhookSecret(ctx, id, secret, until); err != nil {
		return "", err
	}
	detail := "旧密钥立即失效"
	if grace > 0 {
		detail = "旧密钥继续签名 " + grace.String()
	}
	s.audit(ctx, by, "webhook.rotate", webhookTarget(e), detail)
	return secret, nil
}

// SetWebhookEnabled enables or disables an endpoint. Re-enabled, it goes
// on with its oldest pending delivery (one past the 24-hour retry period
// is given up).
func (s *Service) SetWebhookEnabled(ctx context.Context, by Actor, id string, enabled bool) error {
	e, err := s.Webhook(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.SetWebhookEndpointEnabled(ctx, id, enabled, "管理员停用"); err != nil {
		return err
	}
	action := map[bool]string{true: "webhook.enable", false: "webhook.disable"}[enabled]
	s.audit(ctx, by, action, webhookTarget(e), "")
	return nil
}

// SendTestEvent queues a webhook.test event for one endpoint, behind the
// events already waiting for it, and returns the event's id.
func (s *Service) SendTestEvent(ctx context.Context, by Actor, id string) (string, error) {
	e, err := s.Webhook(ctx, id)
	if err != nil {
		return "", err
	}
	if e.Disabled() {
		return "", &Error{Code: EConflict, Reason: "endpoint_disabled", Message: "端点已停用：请先启用再发送测试事件。"}
	}
	evID, err := s.store.QueueTestEvent(ctx, id, map[string]any{
		"endpoint_id": e.PublicID, "message": "这是一条来自 wxpush 的测试事件。", "requested_by": by.Name,
	})
	if err != nil {
		return "", err
	}
	s.audit(ctx, by, "webhook.test", webhookTarget(e), evID)
	return evID, nil
}
