package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/wxpush/wxpush/store"
)

// ReceivedMessage is a message in a user's "my messages".
type ReceivedMessage struct {
	store.Received
	Name       string // what to call it: its title, or the start of its content
	StateLabel string // 已送达, 已发送, 发送中, …
	StateClass string // delivered, sent, pending, failed, blocked
	PageURL    string // its detail page; "" when it has none
}

// MyMessagesPage is how many messages "my messages" shows at once.
const MyMessagesPage = 20

// MyMessages lists the messages pushed to a user, newest first, limit at
// a time; before (a DeliveryID of the previous page) pages.
func (s *Service) MyMessages(ctx context.Context, userID int64, limit int, before int64) ([]ReceivedMessage, error) {
	rs, err := s.store.Received(ctx, userID, limit, before)
	if err != nil {
		return nil, err
	}
	out := make([]ReceivedMessage, len(rs))
	for i, r := range rs {
		m := ReceivedMessage{Received: r, Name: r.Title}
		if m.Name == "" {
			if r.Kind == store.KindText {
				m.Name = firstLine(r.Body)
			} else {
				m.Name = s.Summary(ctx, store.Message{Kind: r.Kind, TemplateID: r.TemplateID, Data: r.Data})
			}
		}
		if m.Name == "" {
			m.Name = "消息"
		}
		m.StateLabel, m.StateClass = receivedState(r)
		if r.Token != "" {
			m.PageURL = s.PageURL(r.Token)
		}
		out[i] = m
	}
	return out, nil
}

// receivedState words a delivery's state for its recipient.
func receivedState(r store.Received) (label, class string) {
	switch {
	case r.State == store.StateSent && r.Receipt == store.ReceiptDelivered:
		return "已送达", "delivered"
	case r.State == store.StateSent && r.Receipt == store.ReceiptBlocked:
		return "已拒收", "blocked"
	case r.State == store.StateSent && r.Receipt == store.ReceiptSysFailed:
		return "未送达", "failed"
	case r.State == store.StateSent:
		return "已发送", "sent"
	case r.State == store.StateFailed:
		return "发送失败", "failed"
	case r.State == store.StateUnknown:
		return "结果未知", "unknown"
	}
	return "发送中", "pending"
}

// statusReply answers the 「状态」 keyword: the binding, the last few
// messages pushed to this WeChat with links to their detail pages, and
// where to see them all.
func (s *Service) statusReply(ctx context.Context, openid string) string {
	u, err := s.store.UserByOpenID(ctx, openid)
	if err != nil {
		return "这个微信还没有绑定账号。回复「绑定」了解如何绑定。"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "这个微信已绑定账号「%s」。回复「解绑」可解除绑定。", u.Name)
	ms, err := s.MyMessages(ctx, u.ID, 3, 0)
	if err != nil {
		s.log.Error("status reply: messages", "err", err)
		return b.String()
	}
	if len(ms) == 0 {
		b.WriteString("\n还没有收到过推送。")
		return b.String()
	}
	b.WriteString("\n最近的消息：")
	for _, m := range ms {
		name := m.Name
		if len([]rune(name)) > 20 {
			name = CutText(name, 19) + "…"
		}
		name = strings.NewReplacer("<", "＜", ">", "＞").Replace(name)
		if m.PageURL != "" {
			name = `<a href="` + m.PageURL + `">` + name + `</a>`
		}
		fmt.Fprintf(&b, "\n· %s %s %s", m.At.In(beijing).Format("01-02 15:04"), name, m.StateLabel)
	}
	b.WriteString("\n全部消息：" + `<a href="` + s.cfg.BaseURL.JoinPath("/messages").String() + `">我的消息</a>`)
	return b.String()
}
