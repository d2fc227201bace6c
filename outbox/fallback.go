package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Automatic fallback for text: a customer-service text to a user outside
// WeChat's 48-hour window (or whose window has no messages left) would
// fail with 45015 or 45047 (docs/wechat.md, "Customer-service message");
// when its message allows, it goes out as the notification template
// instead, with the text's start as summary and its detail page as link.

// ChooseVia decides, per recipient at send time, how a text delivery goes
// out: as text ("") while the window state says WeChat would take it, or
// as the fallback template (store.ViaTemplate) when the message has one
// and the window is closed or used up.
func ChooseVia(now time.Time, w store.WindowState, canFallback bool) string {
	if !canFallback || csWindow(w).Open(now) {
		return ""
	}
	return store.ViaTemplate
}

func csWindow(w store.WindowState) wechat.CSWindow {
	return wechat.CSWindow{LastMessage: w.LastMessage, LastEvent: w.LastEvent, Sent: w.Sent, Unfollowed: w.Unfollowed}
}

// windowClosed reports whether WeChat refused a text for the window:
// outside it (45015) or its count used up (45047).
func windowClosed(err error) bool {
	var we *wechat.Error
	return errors.As(err, &we) && (we.Code == 45015 || we.Code == 45047)
}

// fallbackOf returns a text message's fallback template (nil: none),
// cached like the message itself: neither changes once queued.
func (o *Outbox) fallbackOf(ctx context.Context, messageID int64) (*store.Fallback, error) {
	o.mu.Lock()
	fb, ok := o.fallbacks[messageID]
	o.mu.Unlock()
	if ok {
		return fb, nil
	}
	p, err := o.store.PageOf(ctx, messageID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	fb = p.Fallback
	o.mu.Lock()
	if len(o.fallbacks) > 1000 {
		clear(o.fallbacks)
	}
	o.fallbacks[messageID] = fb
	o.mu.Unlock()
	return fb, nil
}

// sendText makes one attempt at a text delivery: as text, or — decided by
// ChooseVia from the window state the store keeps — as the fallback
// template. A text WeChat still refuses for the window (our records can
// lag behind WeChat's) falls back at once. via says what was sent.
func (o *Outbox) sendText(ctx context.Context, d store.Delivery, m store.Message) (msgID int64, via string, err error) {
	fb, err := o.fallbackOf(ctx, d.MessageID)
	if err != nil {
		o.log.Warn("outbox: reading a text's fallback; sending as text", "message", d.MessageID, "err", err)
	}
	if fb != nil {
		w, err := o.store.WindowState(ctx, d.OpenID)
		if err != nil {
			o.log.Warn("outbox: reading the window state; sending as text", "err", err)
		} else if ChooseVia(o.now(), w, true) == store.ViaTemplate {
			msgID, err := o.sendFallback(ctx, d, fb)
			return msgID, store.ViaTemplate, err
		}
	}
	err = o.sender.SendText(ctx, d.OpenID, m.Body)
	if fb != nil && windowClosed(err) && ctx.Err() == nil {
		msgID, err := o.sendFallback(ctx, d, fb)
		return msgID, store.ViaTemplate, err
	}
	return 0, "", err
}

func (o *Outbox) sendFallback(ctx context.Context, d store.Delivery, fb *store.Fallback) (int64, error) {
	return o.sender.SendTemplate(ctx, wechat.TemplateMessage{
		ToUser: d.OpenID, TemplateID: fb.TemplateID, URL: fb.URL, Data: fb.Data, ClientMsgID: ClientMsgID(d.ID),
	})
}
