package wechat

import (
	"sort"
	"time"
)

// The customer-service windows (docs/wechat.md, "Customer-service
// message"): a message from the user allows 5 messages within 48 hours; a
// follow, a parameterized-QR scan or a menu click 3 within 1 minute.
// Outside every window WeChat answers 45015; inside with the count used
// up, 45047. Unfollowing closes them all.
const (
	MessageWindow      = 48 * time.Hour
	MessageWindowCount = 5
	EventWindow        = time.Minute
	EventWindowCount   = 3
)

// CSWindow is what is known of one user's customer-service windows.
type CSWindow struct {
	LastMessage time.Time // the user's last message; zero: none known
	LastEvent   time.Time // the user's last follow, scan or menu click
	// Sent are the customer-service messages sent to the user since the
	// windows above opened (any order).
	Sent []time.Time
	// Unfollowed: the user no longer follows the account.
	Unfollowed bool
}

// Open reports whether a customer-service message sent at now would be
// accepted: some window is open and has messages left. Each message sent
// is counted against the window that closes first among those open when
// it was sent, as WeChat's quota is described.
func (w CSWindow) Open(now time.Time) bool {
	if w.Unfollowed {
		return false
	}
	type window struct {
		from, until time.Time
		left        int
	}
	var ws []*window
	if !w.LastMessage.IsZero() {
		ws = append(ws, &window{w.LastMessage, w.LastMessage.Add(MessageWindow), MessageWindowCount})
	}
	if !w.LastEvent.IsZero() {
		ws = append(ws, &window{w.LastEvent, w.LastEvent.Add(EventWindow), EventWindowCount})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].until.Before(ws[j].until) })
	sent := append([]time.Time(nil), w.Sent...)
	sort.Slice(sent, func(i, j int) bool { return sent[i].Before(sent[j]) })
	for _, at := range sent {
		for _, x := range ws {
			if !at.Before(x.from) && at.Before(x.until) && x.left > 0 {
				x.left--
				break
			}
		}
	}
	for _, x := range ws {
		// A window whose opening lies ahead of now (WeChat's clock runs a
		// little ahead of ours) is open too.
		if now.Before(x.until) && x.left > 0 {
			return true
		}
	}
	return false
}
