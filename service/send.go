package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// SendRequest is a send as every adapter describes it: the dashboard's
// compose form, the API's body, `wxpush send`'s flags.
type SendRequest struct {
	Kind       string // store.KindText, store.KindTemplate or KindNotification
	Text       string
	TemplateID string
	Data       map[string]string
	URL        string
	All        bool     // every bound user
	UserIDs    []int64  // or these users
	UserNames  []string // and/or these users, by name
	Topics     []string // and/or the subscribers of these topics, by slug (each user once)

	// A notification (KindNotification): Title and Content (ContentType
	// store.ContentText or store.ContentMarkdown, "" for text); Summary
	// for the card, derived from Content when empty.
	Title, Content, ContentType, Summary string

	// NoFallback keeps a text a text: recipients outside WeChat's
	// customer-service window are not sent the notification template
	// instead (their delivery fails with 45015).
	NoFallback bool

	// Idempotency, when set, makes the send safe to retry (Idempotency-Key).
	Idempotency *Idempotency
}

// Idempotency makes a send safe for a client to retry: the same Key within
// the same Scope and the same request (Hash) within a day returns the
// message the first send queued, instead of queueing another.
type Idempotency struct {
	Scope string // whose key: one API token, one push key
	Key   string // the client's Idempotency-Key
	Hash  []byte // SHA-256 of the request as the client sent it
	// Replayed is set by Send when the key had already queued a message,
	// which Send then returns.
	Replayed bool
}

// replay returns the message a live key queued, if any: EConflict
// "idempotency_key_reused" when the key came with another request.
func (s *Service) replay(ctx context.Context, idem *Idempotency) (store.Message, bool, error) {
	id, hash, err := s.store.IdempotentMessage(ctx, idem.Scope, idem.Key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Message{}, false, nil
	}
	if err != nil {
		return store.Message{}, false, err
	}
	if !bytes.Equal(hash, idem.Hash) {
		return store.Message{}, false, &Error{Code: EConflict, Reason: "idempotency_key_reused",
			Message: "这个 Idempotency-Key 已用于另一个请求：同一个 key 只能重试完全相同的请求。"}
	}
	m, err := s.store.Message(ctx, id)
	if err != nil {
		return m, false, err
	}
	// The first answer named the detail page: so does the replay.
	if p, err := s.store.PageOf(ctx, id); err == nil {
		m.Page = &p
	} else if !errors.Is(err, store.ErrNotFound) {
		return m, false, err
	}
	idem.Replayed = true
	return m, true, nil
}

// MaxTextBytes bounds what a customer-service text sends. WeChat documents
// no exact figure for text; 2,048 bytes keeps well inside what it accepts
// (45002 beyond its limit). Longer texts (up to MaxContentBytes) are cut
// and link their detail page (TextBody).
const MaxTextBytes = 2048

// Send validates r, resolves its recipients and queues the message with
// one delivery per recipient and its audit entry, in one transaction; then
// it wakes the outbox. Failures are *Error:
//   - ENotFound, reason "unknown_user": names that match no user (Fields["to"]);
//   - ENotFound, reason "unknown_topic": slugs that match no topic (Fields["topics"]);
//   - EInvalid, reason "invalid_request": the content or recipients break a
//     rule, field by field ("text", "template", "data.KEY", "url", "kind", "to");
//   - EConflict, reason "not_bound": only the recipients are wrong — they
//     exist but have not bound WeChat;
//   - ETooLarge, reason "too_large": the content is over MaxContentBytes;
//   - EUnavailable, reason "no_template": a notification, and no
//     notification template is set;
//   - EUnavailable, reason "backlog_full": from the API or a push URL
//     while the backlog is over Config.MaxBacklog (RetryAt set).
//
// Every message gets a detail page (its whole content, at PageURL).
// Nothing is stored unless the whole send is.
func (s *Service) Send(ctx context.Context, by Actor, r SendRequest) (store.Message, error) {
	if r.Idempotency != nil {
		if m, ok, err := s.replay(ctx, r.Idempotency); ok || err != nil {
			return m, err
		}
	}
	if err := checkSize(r); err != nil {
		return store.Message{}, err
	}
	if err := s.checkBacklog(ctx, by); err != nil {
		return store.Message{}, err
	}
	ids, err := s.resolveNames(ctx, r)
	if err != nil {
		return store.Message{}, err
	}
	topics, err := s.resolveTopics(ctx, r.Topics)
	if err != nil {
		return store.Message{}, err
	}
	fe := fieldErrors{}
	if r.All && len(topics) > 0 {
		fe.add("topics", "发给全部用户时不能再指定主题。")
	}
	m, err := s.checkContent(ctx, r, fe)
	if err != nil {
		return store.Message{}, err
	}
	m.Source, m.CreatedBy = by.Via, by.UserID
	rcpts, err := s.recipients(ctx, r.All, ids, len(topics) > 0, fe)
	if err != nil {
		return store.Message{}, err
	}
	if !r.All {
		if rcpts, err = s.topicRecipients(ctx, rcpts, topics, fe); err != nil {
			return store.Message{}, err
		}
	}
	for _, t := range topics {
		m.TopicIDs = append(m.TopicIDs, t.ID)
	}
	if len(fe) > 0 {
		if _, ok := fe["to"]; ok && len(fe) == 1 && (r.All || len(ids) > 0) {
			return store.Message{}, &Error{Code: EConflict, Reason: "not_bound", Message: fe["to"], Fields: fe}
		}
		return store.Message{}, &Error{Code: EInvalid, Reason: "invalid_request", Message: "消息没有发送：" + joinFields(fe), Fields: fe}
	}
	var audit func(store.Message) store.AuditEntry
	if by.Name != "" && by.Via != "sendkey" {
		to := "全部已绑定用户"
		switch {
		case r.All:
		case len(topics) > 0:
			var names []string
			for _, t := range topics {
				names = append(names, "主题「"+t.Name+"」")
			}
			to = joinLimited(append(names, r.UserNames...), 10)
		case len(r.UserNames) > 0 && len(r.UserIDs) == 0:
			to = joinLimited(r.UserNames, 10)
		default:
			to = fmt.Sprintf("%d 位指定用户", len(rcpts))
		}
		audit = func(m store.Message) store.AuditEntry {
			return store.AuditEntry{ActorID: by.UserID, Actor: by.Name, Action: "message.send", Target: fmt.Sprintf("消息 #%d", m.ID),
				Detail: fmt.Sprintf("%s → %s（%d 人）：%s", KindLabel(m.Kind), to, m.Total, s.Summary(ctx, m))}
		}
	}
	if idem := r.Idempotency; idem != nil {
		m.Idempotency = &store.IdempotencyKey{Scope: idem.Scope, Key: idem.Key, BodyHash: idem.Hash}
	}
	if s.beforeEnqueue != nil {
		s.beforeEnqueue()
	}
	queued, err := s.store.EnqueueAudited(ctx, m, rcpts, audit)
	for tries := 0; errors.Is(err, store.ErrRecipientInactive) && tries < 3; tries++ {
		// An admin disabled or deleted a recipient since they were read:
		// read them again (an explicit recipient is now an error).
		if rcpts, err = s.recipients(ctx, r.All, ids, len(topics) > 0, fe); err != nil {
			return store.Message{}, err
		}
		if !r.All {
			if rcpts, err = s.topicRecipients(ctx, rcpts, topics, fe); err != nil {
				return store.Message{}, err
			}
		}
		if len(fe) > 0 {
			return store.Message{}, &Error{Code: EConflict, Reason: "not_bound", Message: fe["to"], Fields: fe}
		}
		queued, err = s.store.EnqueueAudited(ctx, m, rcpts, audit)
	}
	m = queued
	if errors.Is(err, store.ErrIdempotencyKeyTaken) {
		// A concurrent retry with the same key committed first: answer
		// with its message.
		if m, ok, err := s.replay(ctx, r.Idempotency); ok || err != nil {
			return m, err
		}
	}
	if err != nil {
		return store.Message{}, err
	}
	s.notify()
	s.log.Info("message queued", "message", m.ID, "kind", m.Kind, "recipients", m.Total, "via", by.Via)
	return m, nil
}

// resolveNames turns user names into ids, once; unknown names are an error
// of their own, before anything else is checked.
func (s *Service) resolveNames(ctx context.Context, r SendRequest) ([]int64, error) {
	ids := slices.Clone(r.UserIDs)
	var unknown []string
	for _, name := range r.UserNames {
		u, err := s.store.UserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, name)
			continue
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, u.ID)
	}
	if len(unknown) > 0 {
		msg := "用户不存在：" + strings.Join(unknown, "、") + "。"
		return nil, &Error{Code: ENotFound, Reason: "unknown_user", Message: msg, Fields: map[string]string{"to": msg}}
	}
	return ids, nil
}

// checkContent validates the message itself and returns it ready to store.
func (s *Service) checkContent(ctx context.Context, r SendRequest, fe fieldErrors) (store.Message, error) {
	m := store.Message{Kind: r.Kind}
	switch r.Kind {
	case KindNotification:
		return s.checkNotification(ctx, r, fe)
	case store.KindText:
		text := strings.TrimSpace(r.Text)
		switch {
		case text == "":
			fe.add("text", "请填写消息内容。")
		case !utf8.ValidString(text):
			fe.add("text", "消息内容不是有效的 UTF-8 文本。")
		}
		m.Page = newPage(firstLine(text), text, store.ContentText)
		m.Body = TextBody(text, s.PageURL(m.Page.Token))
		if !r.NoFallback && len(fe) == 0 {
			fb, err := s.textFallback(ctx, text, s.PageURL(m.Page.Token))
			if err != nil {
				return m, err
			}
			m.Page.Fallback = fb
		}
	case store.KindTemplate:
		if r.NoFallback {
			fe.add("fallback", "只有客服消息（text）会改用模板消息。")
		}
		t, err := s.store.Template(ctx, r.TemplateID)
		switch {
		case r.TemplateID == "":
			fe.add("template", "请选择模板。")
		case errors.Is(err, store.ErrNotFound):
			fe.add("template", "模板不存在："+r.TemplateID+"。请先在后台同步模板。")
		case err != nil:
			return m, err
		default:
			keys := wechat.Template{Content: t.Content}.Keys()
			// Problems name a field by its label on the card, as the
			// admin sees it, not by its key (phrase2).
			labels := wechat.Template{Content: t.Content}.Labels()
			name := func(k string) string {
				if l := labels[k]; l != "" {
					return "「" + l + "」"
				}
				return k + " "
			}
			data := map[string]string{}
			for _, k := range keys {
				if v, ok := r.Data[k]; ok {
					data[k] = strings.TrimSpace(v)
				}
			}
			for _, k := range keys {
				// WeChat drops first and remark (docs/wechat.md, "Template
				// message"); every other field is what the card shows, so an
				// empty one is a mistake.
				if data[k] == "" && k != "first" && k != "remark" {
					fe.add("data."+k, "请填写"+strings.TrimSpace(name(k))+"。")
				}
			}
			for _, e := range wechat.CheckTemplateData(keys, data) {
				fe.add("data."+e.Key, name(e.Key)+e.Rule+"。")
			}
			for k := range r.Data {
				if !slices.Contains(keys, k) {
					fe.add("data."+k, "模板中没有这个字段。")
				}
			}
			m.TemplateID, m.Data = t.ID, data
			m.Page = newPage(t.Title, templateText(t.Content, data), store.ContentText)
		}
		if link, ok := checkURL(r.URL); !ok {
			fe.add("url", "链接需以 http:// 或 https:// 开头。")
		} else if m.URL = link; link == "" && m.Page != nil {
			// No link of the sender's own: the card opens the detail page.
			m.URL = s.PageURL(m.Page.Token)
		}
	default:
		fe.add("kind", "消息类型只能是 text（客服消息）、template（模板消息）或 notification（通知）。")
	}
	return m, nil
}

// recipients returns the bound users to deliver to; who cannot be reached
// is reported under "to".
func (s *Service) recipients(ctx context.Context, all bool, ids []int64, topics bool, fe fieldErrors) ([]store.Recipient, error) {
	switch {
	case all:
		rcpts, err := s.store.Recipients(ctx, true, nil)
		if err == nil && len(rcpts) == 0 {
			fe.add("to", "还没有已绑定微信的用户。")
		}
		return rcpts, err
	case len(ids) == 0:
		if !topics {
			fe.add("to", "请选择接收人。")
		}
		return nil, nil
	}
	ids = dedupe(ids)
	rcpts, err := s.store.Recipients(ctx, false, ids)
	if err != nil || len(rcpts) == len(ids) {
		return rcpts, err
	}
	bound := map[int64]bool{}
	for _, rc := range rcpts {
		bound[rc.UserID] = true
	}
	var missing, disabled []string
	for _, id := range ids {
		if bound[id] {
			continue
		}
		u, err := s.store.UserByID(ctx, id)
		switch {
		case err != nil:
			missing = append(missing, fmt.Sprintf("#%d", id))
		case u.Disabled():
			disabled = append(disabled, u.Name)
		default:
			missing = append(missing, u.Name)
		}
	}
	var msgs []string
	if len(missing) > 0 {
		msgs = append(msgs, "这些用户还没有绑定微信："+strings.Join(missing, "、")+"。")
	}
	if len(disabled) > 0 {
		msgs = append(msgs, "这些用户的账号已停用："+strings.Join(disabled, "、")+"。")
	}
	fe.add("to", strings.Join(msgs, ""))
	return rcpts, nil
}

func dedupe(ids []int64) []int64 {
	seen := map[int64]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// joinLimited lists names, the first n of them.
func joinLimited(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, "、")
	}
	return fmt.Sprintf("%s 等 %d 人", strings.Join(names[:n], "、"), len(names))
}

// joinFields lists field messages in a stable order. Each message names
// its field in words (「状态」…, 请选择接收人), so keys are not repeated.
func joinFields(fe map[string]string) string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strings.TrimSuffix(fe[k], "。")
	}
	return strings.Join(parts, "；") + "。"
}

// Summary is a message's content in one line, for lists and the audit log:
// the text, or the template's values in the template's own field order.
func (s *Service) Summary(ctx context.Context, m store.Message) string {
	if m.Kind != store.KindTemplate {
		return m.Body
	}
	if len(m.Data) == 0 {
		return m.TemplateID
	}
	var keys []string
	if t, err := s.store.Template(ctx, m.TemplateID); err == nil {
		keys = wechat.Template{Content: t.Content}.Keys()
	}
	// Keys the template no longer has (or all of them, when it is gone)
	// follow in name order.
	var rest []string
	for k := range m.Data {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var vals []string
	for _, k := range append(keys, rest...) {
		if v, ok := m.Data[k]; ok && v != "" {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return m.TemplateID
	}
	return strings.Join(vals, " · ")
}

// RetryFailed re-queues a message's failed deliveries.
func (s *Service) RetryFailed(ctx context.Context, by Actor, messageID int64) (int64, error) {
	if _, err := s.Message(ctx, messageID); err != nil {
		return 0, err
	}
	n, err := s.store.RetryFailedExcept(ctx, messageID, s.now(), notRetried)
	if err != nil {
		return 0, err
	}
	s.log.Info("retry failed deliveries", "message", messageID, "count", n, "by", by.Name)
	s.audit(ctx, by, "message.retry", fmt.Sprintf("消息 #%d", messageID), fmt.Sprintf("重试 %d 条失败的投递", n))
	s.notify()
	return n, nil
}

// ResendUnknown re-queues a message's deliveries whose outcome is unknown
// (结果未知: the request may have reached WeChat, no answer says so). They
// are never resent on their own; an admin decides a possible duplicate is
// better than a possible loss.
func (s *Service) ResendUnknown(ctx context.Context, by Actor, messageID int64) (int64, error) {
	if _, err := s.Message(ctx, messageID); err != nil {
		return 0, err
	}
	n, err := s.store.ResendUnknown(ctx, messageID, s.now())
	if err != nil {
		return 0, err
	}
	s.log.Info("resend unknown deliveries", "message", messageID, "count", n, "by", by.Name)
	s.audit(ctx, by, "message.resend_unknown", fmt.Sprintf("消息 #%d", messageID), fmt.Sprintf("重发 %d 条结果未知的投递", n))
	s.notify()
	return n, nil
}

// Message returns a message with its counts; ENotFound when there is none.
func (s *Service) Message(ctx context.Context, id int64) (store.Message, error) {
	m, err := s.store.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return m, &Error{Code: ENotFound, Message: "没有这条消息。"}
	}
	return m, err
}

// ParseMessageID reads a message id from a path segment: ENotFound when it
// is not one.
func ParseMessageID(v string) (int64, error) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Code: ENotFound, Message: "没有这条消息。"}
	}
	return id, nil
}
