package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// A 45009 pause outlives a restart: the new outbox reports it (for
// /readyz, the dashboard and the API) and does not call WeChat for the
// paused kind until the quota resets.
func TestOutbox_PauseSurvivesRestart(t *testing.T) {
	h := newHarness(t, sandbox.Faults{DailyQuota: 2}, 6)
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	first := h.outbox(outbox.Config{Workers: 2})
	stop := run(t, first)
	waitFor(t, "the pause", 20*time.Second, func() bool { return len(first.Paused()) == 1 })
	stop()
	calls := h.sb.Stats().Errors[45009]

	second := h.outbox(outbox.Config{Workers: 2})
	run(t, second)
	waitFor(t, "the pause after the restart", 5*time.Second, func() bool { return len(second.Paused()) == 1 })
	p := second.Paused()[0]
	if p.Kind != store.KindTemplate || !p.Until.After(time.Now()) || p.Reason == "" {
		t.Errorf("pause after restart %+v, want template, until the quota resets, with WeChat's reason", p)
	}
	second.Notify()
	time.Sleep(200 * time.Millisecond) // a lost pause would call WeChat here
	if got := h.sb.Stats().Errors[45009]; got != calls {
		t.Errorf("45009 answers went from %d to %d after the restart", calls, got)
	}
	if got, _ := h.st.Message(context.Background(), m.ID); got.Counts.Pending() == 0 {
		t.Errorf("counts %+v, want deliveries still waiting for the quota", got.Counts)
	}
}
