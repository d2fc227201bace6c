package service

import (
	"context"
	"time"
)

// The customer-service window (docs/wechat.md, "Customer-service
// message"): a message from the user opens 48 hours for 5 texts; a follow,
// a scan or a menu click opens 1 minute for 3. Outside every window a text
// fails with 45015; with the window's count used up, with 45047.
const (
	messageWindow      = 48 * time.Hour
	messageWindowTexts = 5
	eventWindow        = time.Minute
	eventWindowTexts   = 3
)

// Window is a user's customer-service window at a moment.
type Window struct {
	Open  bool      // a text sent now can arrive
	Until time.Time // when the window closes (zero when none was opened)
	Left  int       // texts it still allows
}

// WindowOf is the window open at now for a user whose last message and
// last follow/scan/click were at lastMessage and lastEvent, and to whom
// texts were queued at sent. With both windows open, the one that allows
// more texts counts.
func WindowOf(now, lastMessage, lastEvent time.Time, sent []time.Time) Window {
	var best Window
	try := func(opened time.Time, d time.Duration, allowed int) {
		if opened.IsZero() || !now.Before(opened.Add(d)) {
			return
		}
		left := allowed
		for _, at := range sent {
			if !at.Before(opened) {
				left--
			}
		}
		w := Window{Open: left > 0, Until: opened.Add(d), Left: max(left, 0)}
		if w.Left > best.Left || (w.Left == best.Left && w.Until.After(best.Until)) {
			best = w
		}
	}
	try(lastMessage, messageWindow, messageWindowTexts)
	try(lastEvent, eventWindow, eventWindowTexts)
	return best
}

// TextWindows returns the customer-service window of every bound user,
// by user id, counting the texts already queued to them.
func (s *Service) TextWindows(ctx context.Context) (map[int64]Window, error) {
	people, err := s.store.People(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sent, err := s.store.TextSentSince(ctx, now.Add(-messageWindow))
	if err != nil {
		return nil, err
	}
	out := map[int64]Window{}
	for _, p := range people {
		if p.Bound {
			out[p.ID] = WindowOf(now, p.LastInteraction, p.LastEvent, sent[p.OpenID])
		}
	}
	return out, nil
}

// Retryable reports whether retrying a delivery that failed with WeChat's
// code can succeed: not for an invalid openid or template, bad data, a
// user who refuses, or a customer-service window that is shut or used up
// (for those, a template message is the way; TemplateInstead).
func Retryable(code int) bool {
	switch code {
	case 40003, 40037, 45015, 45047, 47001, 47003, 50001, 50002:
		return false
	}
	return true
}

// TemplateInstead reports whether a text failed because the user's
// customer-service window was shut or used up: a template message reaches
// them.
func TemplateInstead(code int) bool { return code == 45015 || code == 45047 }

// notRetried lists the codes RetryFailed leaves alone (!Retryable).
var notRetried = []int{40003, 40037, 45015, 45047, 47001, 47003, 50001, 50002}
