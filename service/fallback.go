package service

import (
	"context"
	"strings"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// textFallback is the notification template a text becomes for a
// recipient outside WeChat's customer-service window (the outbox decides,
// per recipient, at send time): its first line as title, the rest as
// summary, the send time, and its detail page as link. nil when no
// notification template is set, or the text does not fit its fields.
func (s *Service) textFallback(ctx context.Context, text, pageURL string) (*store.Fallback, error) {
	nt, tpl, err := s.SendKeyTemplate(ctx)
	if ErrorCode(err) == ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	title := firstLine(text)
	_, rest, _ := strings.Cut(strings.TrimSpace(text), "\n")
	if rest = strings.TrimSpace(stripLinks(rest)); rest == "" {
		rest = "点击查看全文"
	}
	data, _ := s.NotificationData(nt, tpl, title, "", rest, store.ContentText)
	keys := wechat.Template{Content: tpl.Content}.Keys()
	if len(wechat.CheckTemplateData(keys, data)) > 0 {
		// The text breaks the template's field rules (a phrase field, …):
		// it cannot fall back; WeChat's 45015 will say why it failed.
		s.log.Info("text cannot fall back: it does not fit the notification template", "template", tpl.ID)
		return nil, nil
	}
	return &store.Fallback{TemplateID: tpl.ID, Data: data, URL: pageURL}, nil
}

// Reach forecasts how a text to some users will go out: how many are in
// their customer-service window (text), how many will get the
// notification template instead, and how many would fail (outside the
// window, and no fallback: turned off or no notification template).
type Reach struct {
	Text, Template, Fail int
	NoTemplate           bool // there is no notification template to fall back to
}

// TextReach forecasts a text to the bound users among people (all of them
// when all), with fallback on or off, from the window state the store
// keeps — the same rule the outbox applies at send time.
func (s *Service) TextReach(ctx context.Context, people []store.Person, all bool, selected map[int64]bool, fallback bool) (Reach, error) {
	var r Reach
	if _, _, err := s.SendKeyTemplate(ctx); ErrorCode(err) == ENotFound {
		r.NoTemplate = true
	} else if err != nil {
		return r, err
	}
	now := s.now()
	sent, err := s.store.TextsSent(ctx, now)
	if err != nil {
		return r, err
	}
	for _, p := range people {
		if !p.Bound || (!all && !selected[p.ID]) {
			continue
		}
		w := wechat.CSWindow{LastMessage: p.LastInteraction, LastEvent: p.LastEvent, Sent: sent[p.OpenID],
			Unfollowed: p.Following != nil && !*p.Following}
		switch {
		case w.Open(now):
			r.Text++
		case fallback && !r.NoTemplate:
			r.Template++
		default:
			r.Fail++
		}
	}
	return r, nil
}
