package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Topics (主题): admins create them; users subscribe themselves (when the
// topic allows it) on their account page, through a topic's link or QR
// code (/t/{slug}, opened in WeChat) or from a message's detail page;
// programs manage membership through the API; sends address them.

// TopicInput is a topic as an admin writes it.
type TopicInput struct {
	Slug          string
	Name          string
	Description   string
	SelfSubscribe bool
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

const (
	maxTopicName        = 20
	maxTopicDescription = 200
	// MaxSendTopics bounds the topics one send names.
	MaxSendTopics = 100
)

// ReasonUnknownTopic names a topic that does not exist.
const ReasonUnknownTopic = "unknown_topic"

func unknownTopic(slug string) *Error {
	msg := "主题不存在：" + slug + "。"
	return &Error{Code: ENotFound, Reason: ReasonUnknownTopic, Message: msg, Fields: map[string]string{"topics": msg}}
}

func (in *TopicInput) check(fe fieldErrors, withSlug bool) {
	in.Slug, in.Name, in.Description = strings.ToLower(strings.TrimSpace(in.Slug)), strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	if withSlug && !slugRE.MatchString(in.Slug) {
		fe.add("slug", "标识只能用小写字母、数字、- 和 _，以字母或数字开头，最多 32 个字符。")
	}
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		fe.add("name", "请填写名称。")
	case n > maxTopicName:
		fe.add("name", fmt.Sprintf("名称最多 %d 个字。", maxTopicName))
	}
	if utf8.RuneCountInString(in.Description) > maxTopicDescription {
		fe.add("description", fmt.Sprintf("简介最多 %d 个字。", maxTopicDescription))
	}
}

func invalid(fe fieldErrors) error {
	return &Error{Code: EInvalid, Reason: "invalid_request", Message: "主题没有保存：" + joinFields(fe), Fields: fe}
}

// CreateTopic adds a topic. EInvalid for bad fields, EConflict (reason
// "slug_taken") for a slug in use.
func (s *Service) CreateTopic(ctx context.Context, by Actor, in TopicInput) (store.Topic, error) {
	fe := fieldErrors{}
	in.check(fe, true)
	if len(fe) > 0 {
		return store.Topic{}, invalid(fe)
	}
	t, err := s.store.CreateTopic(ctx, store.Topic{Slug: in.Slug, Name: in.Name, Description: in.Description, SelfSubscribe: in.SelfSubscribe})
	if errors.Is(err, store.ErrConflict) {
		msg := "标识「" + in.Slug + "」已被其他主题使用。"
		return t, &Error{Code: EConflict, Reason: "slug_taken", Message: msg, Fields: map[string]string{"slug": msg}}
	}
	if err != nil {
		return t, err
	}
	s.audit(ctx, by, "topic.create", topicLabel(t), selfLabel(t.SelfSubscribe))
	return t, nil
}

// UpdateTopic changes a topic's name, description and self-subscribe flag.
func (s *Service) UpdateTopic(ctx context.Context, by Actor, slug string, in TopicInput) (store.Topic, error) {
	t, err := s.Topic(ctx, slug)
	if err != nil {
		return t, err
	}
	fe := fieldErrors{}
	in.check(fe, false)
	if len(fe) > 0 {
		return t, invalid(fe)
	}
	t.Name, t.Description, t.SelfSubscribe = in.Name, in.Description, in.SelfSubscribe
	if err := s.store.UpdateTopic(ctx, t); err != nil {
		return t, err
	}
	s.audit(ctx, by, "topic.update", topicLabel(t), selfLabel(t.SelfSubscribe))
	return t, nil
}

// DeleteTopic deletes a topic and its subscriptions.
func (s *Service) DeleteTopic(ctx context.Context, by Actor, slug string) error {
	t, err := s.Topic(ctx, slug)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTopic(ctx, t.ID); err != nil {
		return err
	}
	s.audit(ctx, by, "topic.delete", topicLabel(t), fmt.Sprintf("%d 位订阅者", t.Subscribers))
	return nil
}

func topicLabel(t store.Topic) string { return fmt.Sprintf("主题「%s」(%s)", t.Name, t.Slug) }

func selfLabel(self bool) string {
	if self {
		return "用户可自行订阅"
	}
	return "仅管理员添加订阅者"
}

// Topic returns a topic with its counts; ENotFound "unknown_topic".
func (s *Service) Topic(ctx context.Context, slug string) (store.Topic, error) {
	t, err := s.store.TopicBySlug(ctx, strings.TrimSpace(slug))
	if errors.Is(err, store.ErrNotFound) {
		return t, unknownTopic(slug)
	}
	return t, err
}

// Topics lists every topic with its counts.
func (s *Service) Topics(ctx context.Context) ([]store.Topic, error) { return s.store.Topics(ctx) }

// WeChatActor is a user acting through WeChat's in-app browser,
// identified by web authorization (not signed in to the site).
func WeChatActor(u store.User) Actor { return Actor{UserID: u.ID, Name: u.Name, Via: "wechat"} }

// Subscribe adds u to a topic. A user acting for themselves may only join
// topics that allow it (EForbidden, reason "not_self_subscribe"); admins
// and programs may add anyone. changed is false when u already was a
// subscriber.
func (s *Service) Subscribe(ctx context.Context, by Actor, slug string, u store.User) (store.Topic, bool, error) {
	t, err := s.Topic(ctx, slug)
	if err != nil {
		return t, false, err
	}
	if by.UserID == u.ID && (by.Via == "dashboard" || by.Via == "wechat") && !t.SelfSubscribe && !s.isAdmin(ctx, by) {
		return t, false, &Error{Code: EForbidden, Reason: "not_self_subscribe", Message: "主题「" + t.Name + "」只能由管理员添加订阅者。"}
	}
	changed, err := s.store.Subscribe(ctx, t.ID, u.ID)
	if err != nil {
		return t, false, err
	}
	if changed {
		t.Subscribers++
		s.audit(ctx, by, "topic.subscribe", topicLabel(t), u.Name)
	}
	return t, changed, nil
}

// Unsubscribe removes u from a topic: anyone may leave any topic.
func (s *Service) Unsubscribe(ctx context.Context, by Actor, slug string, u store.User) (store.Topic, bool, error) {
	t, err := s.Topic(ctx, slug)
	if err != nil {
		return t, false, err
	}
	changed, err := s.store.Unsubscribe(ctx, t.ID, u.ID)
	if err != nil {
		return t, false, err
	}
	if changed {
		t.Subscribers--
		s.audit(ctx, by, "topic.unsubscribe", topicLabel(t), u.Name)
	}
	return t, changed, nil
}

func (s *Service) isAdmin(ctx context.Context, by Actor) bool {
	u, err := s.store.UserByID(ctx, by.UserID)
	return err == nil && u.IsAdmin
}

// SetSubscription subscribes (on) or unsubscribes the user named userName:
// how programs and admins manage membership. ENotFound "unknown_topic" or
// "unknown_user".
func (s *Service) SetSubscription(ctx context.Context, by Actor, slug, userName string, on bool) (store.Topic, store.User, bool, error) {
	t, err := s.Topic(ctx, slug)
	if err != nil {
		return t, store.User{}, false, err
	}
	u, err := s.store.UserByName(ctx, strings.TrimSpace(userName))
	if errors.Is(err, store.ErrNotFound) {
		return t, u, false, &Error{Code: ENotFound, Reason: "unknown_user", Message: "用户不存在：" + userName + "。"}
	}
	if err != nil {
		return t, u, false, err
	}
	var changed bool
	if on {
		t, changed, err = s.Subscribe(ctx, by, slug, u)
	} else {
		t, changed, err = s.Unsubscribe(ctx, by, slug, u)
	}
	return t, u, changed, err
}

// TopicSubscribers lists a topic's subscribers.
func (s *Service) TopicSubscribers(ctx context.Context, t store.Topic) ([]store.Subscriber, error) {
	return s.store.TopicSubscribers(ctx, t.ID)
}

// UserTopic is a topic as a user sees it: subscribed or not, and whether
// they may subscribe themselves.
type UserTopic struct {
	store.Topic
	Subscribed   bool
	CanSubscribe bool
}

// UserTopics lists the topics a user can manage: those open to
// self-subscription and those they are in.
func (s *Service) UserTopics(ctx context.Context, u store.User) ([]UserTopic, error) {
	ts, err := s.store.Topics(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.store.Subscribed(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var out []UserTopic
	for _, t := range ts {
		if t.SelfSubscribe || in[t.ID] || u.IsAdmin {
			out = append(out, UserTopic{Topic: t, Subscribed: in[t.ID], CanSubscribe: t.SelfSubscribe || u.IsAdmin})
		}
	}
	return out, nil
}

// IsSubscribed reports whether u is in the topic.
func (s *Service) IsSubscribed(ctx context.Context, t store.Topic, u store.User) (bool, error) {
	in, err := s.store.Subscribed(ctx, u.ID)
	return in[t.ID], err
}

// resolveTopics turns the slugs of a send into topic ids (each once);
// unknown slugs are ENotFound "unknown_topic".
func (s *Service) resolveTopics(ctx context.Context, slugs []string) ([]store.Topic, error) {
	var out []store.Topic
	var unknown []string
	for _, slug := range slugs {
		t, err := s.store.TopicBySlug(ctx, strings.TrimSpace(slug))
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, slug)
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(x store.Topic) bool { return x.ID == t.ID }) {
			out = append(out, t)
		}
	}
	if len(unknown) > 0 {
		return nil, unknownTopic(strings.Join(unknown, "、"))
	}
	return out, nil
}

// topicRecipients adds the bound subscribers of the topics to rcpts, each
// user once however many of the topics (and the named users) include them.
// Unbound subscribers are left out: they receive once they bind.
func (s *Service) topicRecipients(ctx context.Context, rcpts []store.Recipient, topics []store.Topic, fe fieldErrors) ([]store.Recipient, error) {
	if len(topics) == 0 {
		return rcpts, nil
	}
	ids := make([]int64, len(topics))
	for i, t := range topics {
		ids[i] = t.ID
	}
	members, err := s.store.TopicMembers(ctx, ids)
	if err != nil {
		return nil, err
	}
	bound, err := s.store.Recipients(ctx, false, members)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, r := range rcpts {
		seen[r.UserID] = true
	}
	for _, r := range bound {
		if !seen[r.UserID] {
			seen[r.UserID] = true
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		names := make([]string, len(topics))
		for i, t := range topics {
			names[i] = "「" + t.Name + "」"
		}
		fe.add("topics", "主题"+strings.Join(names, "、")+"还没有已绑定微信的订阅者。")
	}
	return rcpts, nil
}

// TopicMemberIDs returns the users subscribed to any of the topics.
func (s *Service) TopicMemberIDs(ctx context.Context, slugs []string) ([]int64, error) {
	ts, err := s.resolveTopics(ctx, slugs)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return s.store.TopicMembers(ctx, ids)
}

// TopicAuthorizeURL is WeChat's web authorization (silent, snsapi_base)
// that identifies who opened a topic's page in WeChat, coming back to
// /t/{slug}/wechat.
func (s *Service) TopicAuthorizeURL(slug string) string {
	return s.wx.AuthorizeURL(s.cfg.BaseURL.JoinPath("/t", slug, "wechat").String(), wechat.ScopeBase, "topic")
}

// WeChatUser identifies the site user whose WeChat came back from web
// authorization with code: EForbidden "cancelled" without a code,
// EInvalid "auth_failed" when WeChat refuses it, EConflict "not_bound"
// when that WeChat is bound to no account.
func (s *Service) WeChatUser(ctx context.Context, code string) (store.User, error) {
	if code == "" {
		return store.User{}, &Error{Code: EForbidden, Reason: ReasonCancelled, Message: "没有授权，无法识别你的微信。"}
	}
	ot, err := s.wx.ExchangeCode(ctx, code)
	if err != nil {
		var we *wechat.Error
		if errors.As(err, &we) && !we.ConfigProblem() {
			return store.User{}, &Error{Code: EInvalid, Reason: ReasonAuthInvalid, Message: "微信授权已失效，请重新打开链接。", Err: err}
		}
		return store.User{}, &Error{Code: EUpstream, Message: "连接微信服务器失败，请稍后再试。", Err: err}
	}
	if ot.IsSnapshotUser {
		return store.User{}, &Error{Code: EInvalid, Reason: ReasonSnapshot, Message: "当前页面处于快照预览模式，无法识别你的微信。"}
	}
	u, err := s.store.UserByOpenID(ctx, ot.OpenID)
	if errors.Is(err, store.ErrNotFound) {
		return u, &Error{Code: EConflict, Reason: "not_bound", Message: "这个微信还没有绑定本站账号：请先在电脑上登录并绑定微信。"}
	}
	return u, err
}
