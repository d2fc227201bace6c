package wechat_test

import (
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

func TestCSWindow_Open(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	times := func(n int, at time.Time) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = at
		}
		return out
	}
	tests := []struct {
		name string
		w    wechat.CSWindow
		want bool
	}{
		{"nothing known", wechat.CSWindow{}, false},
		{"wrote an hour ago", wechat.CSWindow{LastMessage: ago(time.Hour)}, true},
		{"wrote 47h59m ago", wechat.CSWindow{LastMessage: ago(48*time.Hour - time.Minute)}, true},
		{"wrote 48h ago", wechat.CSWindow{LastMessage: ago(48 * time.Hour)}, false},
		{"followed 30s ago", wechat.CSWindow{LastEvent: ago(30 * time.Second)}, true},
		{"followed 2 min ago", wechat.CSWindow{LastEvent: ago(2 * time.Minute)}, false},
		{"4 of 5 used", wechat.CSWindow{LastMessage: ago(time.Hour), Sent: times(4, ago(time.Minute))}, true},
		{"5 of 5 used", wechat.CSWindow{LastMessage: ago(time.Hour), Sent: times(5, ago(time.Minute))}, false},
		{"sends before the message do not count", wechat.CSWindow{LastMessage: ago(time.Hour), Sent: times(5, ago(2*time.Hour))}, true},
		{"event window used, message window open", wechat.CSWindow{LastMessage: ago(time.Hour), LastEvent: ago(10 * time.Second), Sent: times(3, ago(5*time.Second))}, true},
		{"both used", wechat.CSWindow{LastMessage: ago(time.Hour), LastEvent: ago(10 * time.Second), Sent: times(8, ago(5*time.Second))}, false},
		{"event 3 used", wechat.CSWindow{LastEvent: ago(10 * time.Second), Sent: times(3, ago(5*time.Second))}, false},
		{"wrote 5 s from now (clock skew)", wechat.CSWindow{LastMessage: now.Add(5 * time.Second)}, true},
		{"unfollowed", wechat.CSWindow{LastMessage: ago(time.Hour), Unfollowed: true}, false},
	}
	for _, tt := range tests {
		if got := tt.w.Open(now); got != tt.want {
			t.Errorf("%s: Open = %v, want %v", tt.name, got, tt.want)
		}
	}
}
