package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

func TestChooseVia(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	five := []time.Time{ago(time.Minute), ago(time.Minute), ago(time.Minute), ago(time.Minute), ago(time.Minute)}
	tests := []struct {
		name     string
		w        store.WindowState
		fallback bool
		want     string
	}{
		{"wrote an hour ago", store.WindowState{LastMessage: ago(time.Hour)}, true, ""},
		{"never wrote", store.WindowState{}, true, store.ViaTemplate},
		{"wrote 3 days ago", store.WindowState{LastMessage: ago(72 * time.Hour)}, true, store.ViaTemplate},
		{"followed 20 s ago", store.WindowState{LastEvent: ago(20 * time.Second)}, true, ""},
		{"followed 2 min ago", store.WindowState{LastEvent: ago(2 * time.Minute)}, true, store.ViaTemplate},
		{"window's 5 texts used", store.WindowState{LastMessage: ago(time.Hour), Sent: five}, true, store.ViaTemplate},
		{"4 texts used", store.WindowState{LastMessage: ago(time.Hour), Sent: five[:4]}, true, ""},
		{"unfollowed", store.WindowState{LastMessage: ago(time.Hour), Unfollowed: true}, true, store.ViaTemplate},
		{"outside, fallback off", store.WindowState{}, false, ""},
		{"used up, fallback off", store.WindowState{LastMessage: ago(time.Hour), Sent: five}, false, ""},
	}
	for _, tt := range tests {
		if got := outbox.ChooseVia(now, tt.w, tt.fallback); got != tt.want {
			t.Errorf("%s: ChooseVia = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// addNotificationTemplate gives the sandbox the free-form 「消息通知」
// template (title, content) and syncs it, so texts can fall back.
func (h *harness) addNotificationTemplate() {
	h.t.Helper()
	if _, err := h.sb.AddTemplate("消息通知", "标题：{{title.DATA}}\n内容：{{content.DATA}}"); err != nil {
		h.t.Fatal(err)
	}
	var ts []wechat.Template
	if err := h.tokens.Do(context.Background(), func(ctx context.Context, tok string) error {
		var err error
		ts, err = h.client.Templates(ctx, tok)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	var sts []store.Template
	for _, x := range ts {
		sts = append(sts, store.Template{ID: x.ID, Title: x.Title, Content: x.Content})
	}
	if err := h.st.ReplaceTemplates(context.Background(), sts); err != nil {
		h.t.Fatal(err)
	}
}

// TestOutbox_TextFallsBackPerRecipientFromWindowState: one text to four
// users goes out per recipient as the store's window state says — text to
// the user who wrote, the notification template to the one who never did
// and to the one whose 5 texts are used up — and a text WeChat still
// refuses (our records said the window was open) falls back at once.
func TestOutbox_TextFallsBackPerRecipientFromWindowState(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 4)
	h.addNotificationTemplate()
	h.clock.Advance(2 * time.Minute) // the follows' 1-minute windows are over at WeChat
	ctx := context.Background()
	inWindow, outside, usedUp, stale := h.users[0], h.users[1], h.users[2], h.users[3]
	for _, u := range []store.Recipient{inWindow, usedUp, stale} {
		if u != stale { // stale wrote, as far as we know; WeChat never saw it
			if err := h.sb.Say(u.OpenID, "你好"); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.st.TouchInteraction(ctx, u.OpenID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	run(t, h.outbox(outbox.Config{Workers: 2}))
	for i := range 5 {
		m := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "第 " + string(rune('1'+i)) + " 条", UserIDs: []int64{usedUp.UserID}})
		if m = h.waitDone(m.ID, 10*time.Second); m.Counts.Sent != 1 {
			t.Fatalf("warm-up text %d: %+v", i, m.Counts)
		}
	}

	m := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "服务器磁盘将满\n/var 已用 95%，请尽快清理。",
		UserIDs: []int64{inWindow.UserID, outside.UserID, usedUp.UserID, stale.UserID}})
	if m = h.waitDone(m.ID, 10*time.Second); m.Counts.Sent != 4 {
		t.Fatalf("counts %+v, want all 4 sent", m.Counts)
	}
	page, err := h.st.PageOf(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := h.st.Deliveries(ctx, m.ID)
	want := map[string]string{inWindow.OpenID: "", outside.OpenID: store.ViaTemplate, usedUp.OpenID: store.ViaTemplate, stale.OpenID: store.ViaTemplate}
	for _, d := range ds {
		if d.Via != want[d.OpenID] {
			t.Errorf("%s: via %q, want %q", d.UserName, d.Via, want[d.OpenID])
		}
		if d.Via == store.ViaTemplate && d.MsgID == 0 {
			t.Errorf("%s: sent as template without a msgid (receipts could not find it)", d.UserName)
		}
	}
	last := func(u store.Recipient) sandbox.Message {
		in := h.sb.Inbox(u.OpenID)
		return in[len(in)-1]
	}
	if got := last(inWindow); got.Kind != sandbox.KindText || !strings.HasPrefix(got.Content, "服务器磁盘将满") {
		t.Errorf("in-window user got %+v, want the text", got)
	}
	for _, u := range []store.Recipient{outside, usedUp, stale} {
		got := last(u)
		if got.Kind != sandbox.KindTemplate || !strings.HasSuffix(got.URL, "/m/"+page.Token) || !strings.Contains(joinValues(got), "服务器磁盘将满") ||
			!strings.Contains(joinValues(got), "/var 已用 95%") {
			t.Errorf("%s got %+v, want the notification template linking /m/%s", u.Name, got, page.Token)
		}
	}
	// The decision was made before sending: WeChat refused a text only for
	// the user whose window our records got wrong.
	if st := h.sb.Stats(); st.Errors[45015] != 1 || st.Errors[45047] != 0 {
		t.Errorf("WeChat answered 45015 ×%d, 45047 ×%d; want 1 and 0", st.Errors[45015], st.Errors[45047])
	}

	// Fallback turned off: the text fails as before.
	m = h.enqueue(service.SendRequest{Kind: store.KindText, Text: "不要改用模板", NoFallback: true, UserIDs: []int64{outside.UserID}})
	m = h.waitDone(m.ID, 10*time.Second)
	ds, _ = h.st.Deliveries(ctx, m.ID)
	if m.Counts.Failed != 1 || ds[0].ErrCode != 45015 || ds[0].Via != "" {
		t.Errorf("no-fallback text: counts %+v, delivery %+v; want failed with 45015", m.Counts, ds[0])
	}
}

func joinValues(m sandbox.Message) string {
	var b strings.Builder
	for _, f := range m.Fields {
		b.WriteString(f.Value + " ")
	}
	return b.String()
}
