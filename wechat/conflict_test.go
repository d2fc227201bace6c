package wechat_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

type conflictLog struct {
	mu    sync.Mutex
	signs []wechat.TokenConflict
}

func (l *conflictLog) add(c wechat.TokenConflict) {
	l.mu.Lock()
	l.signs = append(l.signs, c)
	l.mu.Unlock()
}
func (l *conflictLog) all() []wechat.TokenConflict {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wechat.TokenConflict(nil), l.signs...)
}

func TestConflict_WeChatsOwnRotationIsNoConflict(t *testing.T) {
	ctx := context.Background()
	e := newTokenEnv(t, 0)
	var log conflictLog
	m := e.manager(wechat.TokenOptions{OnConflict: log.add})
	// Five token lifetimes of calls every 3 minutes: refreshes ahead of
	// expiry and WeChat's rotation in the last 5 minutes.
	for range 5 * 40 {
		if err := m.Do(ctx, e.apiCall); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3 * time.Minute)
	}
	if s := log.all(); len(s) != 0 {
		t.Fatalf("conflicts without another system: %+v", s)
	}
	if e.rt.stable.Load() < 5 {
		t.Fatalf("only %d fetches in 10 hours", e.rt.stable.Load())
	}
}

func TestConflict_ATokenReplacedEarlyIsReportedOnce(t *testing.T) {
	ctx := context.Background()
	e := newTokenEnv(t, 0)
	var log conflictLog
	m := e.manager(wechat.TokenOptions{OnConflict: log.add})
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{RivalRefreshEvery: 10 * time.Minute})
	e.clock.Advance(11 * time.Minute) // replaced at +10, still accepted for 5 minutes
	if err := m.Do(ctx, e.apiCall); err != nil || len(log.all()) != 0 {
		t.Fatalf("inside the grace: %v %+v", err, log.all())
	}
	// The manager drops it (a call refused it as expired, say) and asks
	// stable_token, unforced: the answer is another token.
	m.Invalidate(first)
	if _, err := m.Token(ctx); err != nil {
		t.Fatal(err)
	}
	s := log.all()
	if len(s) != 1 || s[0].Kind != wechat.ConflictReplaced || s[0].Left < time.Hour {
		t.Fatalf("signs %+v, want one replaced", s)
	}
	// Calls go on with the new token, and nothing more is reported.
	e.clock.Advance(5 * time.Minute)
	if err := m.Do(ctx, e.apiCall); err != nil || len(log.all()) != 1 {
		t.Fatalf("after: %v %+v", err, log.all())
	}
}
