package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Request is a send request from the dashboard, the CLI or the API.
type Request struct {
	Kind       string // store.KindText or store.KindTemplate
	Text       string
	TemplateID string
	Data       map[string]string
	URL        string
	All        bool     // every bound user
	UserIDs    []int64  // or these users
	UserNames  []string // or these users, by name
	Source     string
	CreatedBy  int64
	// Audit, when set, makes the audit entry of the queued message; it is
	// stored in the same transaction.
	Audit func(store.Message) store.AuditEntry
}

// InputError lists what is wrong with a request, field by field, in words
// for the person who made it.
type InputError struct {
	Fields map[string]string // field → message ("text", "template", "data.thing1", "url", "to")
}

func (e *InputError) Error() string {
	var parts []string
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	return "invalid send request: " + strings.Join(parts, "; ")
}

func (e *InputError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// MaxTextBytes bounds a customer-service text. WeChat documents no exact
// figure for text; 2,048 bytes keeps well inside what it accepts (45002
// beyond its limit).
const MaxTextBytes = 2048

// Enqueue validates r and records the message with one queued delivery per
// recipient, in one transaction. Call Notify on a running outbox afterwards
// (the outbox also polls). Bad input yields *InputError and stores nothing.
func Enqueue(ctx context.Context, st *store.Store, r Request) (store.Message, error) {
	ie := &InputError{}
	m := store.Message{Kind: r.Kind, Source: r.Source, CreatedBy: r.CreatedBy}
	switch r.Kind {
	case store.KindText:
		text := strings.TrimSpace(r.Text)
		switch {
		case text == "":
			ie.add("text", "请填写消息内容。")
		case len(text) > MaxTextBytes:
			ie.add("text", fmt.Sprintf("消息太长：最多 %d 字节（约 %d 个汉字），现在 %d 字节。", MaxTextBytes, MaxTextBytes/3, len(text)))
		case !utf8.ValidString(text):
			ie.add("text", "消息内容不是有效的 UTF-8 文本。")
		}
		m.Body = text
	case store.KindTemplate:
		t, err := st.Template(ctx, r.TemplateID)
		switch {
		case r.TemplateID == "":
			ie.add("template", "请选择模板。")
		case errors.Is(err, store.ErrNotFound):
			ie.add("template", "模板不存在："+r.TemplateID+"。请先在后台同步模板。")
		case err != nil:
			return store.Message{}, err
		default:
			keys := wechat.Template{Content: t.Content}.Keys()
			data := map[string]string{}
			for _, k := range keys {
				if v, ok := r.Data[k]; ok {
					data[k] = strings.TrimSpace(v)
				}
			}
			for _, k := range keys {
				// WeChat drops first and remark (§4); every other field is
				// what the card shows, so an empty one is a mistake.
				if data[k] == "" && k != "first" && k != "remark" {
					ie.add("data."+k, "请填写此字段。")
				}
			}
			for _, fe := range wechat.CheckTemplateData(keys, data) {
				ie.add("data."+fe.Key, fe.Msg)
			}
			for k := range r.Data {
				if !slices.Contains(keys, k) {
					ie.add("data."+k, "模板中没有这个字段。")
				}
			}
			m.TemplateID, m.Data = t.ID, data
		}
		if r.URL != "" {
			u, err := url.Parse(r.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ie.add("url", "链接需以 http:// 或 https:// 开头。")
			}
			m.URL = r.URL
		}
	default:
		ie.add("kind", "消息类型只能是 text（客服消息）或 template（模板消息）。")
	}

	var rcpts []store.Recipient
	switch {
	case r.All:
		var err error
		if rcpts, err = st.Recipients(ctx, true, nil); err != nil {
			return store.Message{}, err
		}
		if len(rcpts) == 0 {
			ie.add("to", "还没有已绑定微信的用户。")
		}
	case len(r.UserIDs) > 0 || len(r.UserNames) > 0:
		ids := append([]int64(nil), r.UserIDs...)
		for _, name := range r.UserNames {
			u, err := st.UserByName(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				ie.add("to", "用户不存在："+name+"。")
				continue
			}
			if err != nil {
				return store.Message{}, err
			}
			ids = append(ids, u.ID)
		}
		ids = dedupe(ids)
		var err error
		if rcpts, err = st.Recipients(ctx, false, ids); err != nil {
			return store.Message{}, err
		}
		if len(rcpts) < len(ids) {
			bound := map[int64]bool{}
			for _, rc := range rcpts {
				bound[rc.UserID] = true
			}
			var missing []string
			for _, id := range ids {
				if !bound[id] {
					if u, err := st.UserByID(ctx, id); err == nil {
						missing = append(missing, u.Name)
					} else {
						missing = append(missing, fmt.Sprintf("#%d", id))
					}
				}
			}
			ie.add("to", "这些用户还没有绑定微信："+strings.Join(missing, "、")+"。")
		}
	default:
		ie.add("to", "请选择接收人。")
	}
	if len(ie.Fields) > 0 {
		return store.Message{}, ie
	}
	return st.EnqueueAudited(ctx, m, rcpts, r.Audit)
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
