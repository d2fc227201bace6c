package service

import (
	"testing"
	"time"
)

func TestWindowOf(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	var never time.Time
	tests := []struct {
		name           string
		message, event time.Time
		sent           []time.Time
		open           bool
		until          time.Time
		left           int
	}{
		{"never interacted", never, never, nil, false, never, 0},
		{"wrote an hour ago", ago(time.Hour), never, nil, true, ago(time.Hour).Add(48 * time.Hour), 5},
		{"wrote 49 hours ago", ago(49 * time.Hour), never, nil, false, never, 0},
		{"two texts since writing", ago(time.Hour), never, []time.Time{ago(30 * time.Minute), ago(10 * time.Minute), ago(2 * time.Hour)}, true, ago(time.Hour).Add(48 * time.Hour), 3},
		{"five texts since writing: used up", ago(time.Hour), never, []time.Time{ago(5), ago(4), ago(3), ago(2), ago(1)}, false, ago(time.Hour).Add(48 * time.Hour), 0},
		{"followed 30 s ago", never, ago(30 * time.Second), nil, true, ago(30 * time.Second).Add(time.Minute), 3},
		{"followed 2 minutes ago", never, ago(2 * time.Minute), nil, false, never, 0},
		{"both: the one allowing more", ago(time.Hour), ago(10 * time.Second), []time.Time{ago(time.Minute), ago(50 * time.Second), ago(40 * time.Second)}, true, ago(10 * time.Second).Add(time.Minute), 3},
	}
	for _, tt := range tests {
		w := WindowOf(now, tt.message, tt.event, tt.sent)
		if w.Open != tt.open || !w.Until.Equal(tt.until) || w.Left != tt.left {
			t.Errorf("%s: %+v, want open %v until %v left %d", tt.name, w, tt.open, tt.until, tt.left)
		}
	}
}

// RetryFailed leaves alone exactly the codes Retryable refuses.
func TestRetryable_MatchesWhatRetryFailedSkips(t *testing.T) {
	for code := -1; code < 60000; code++ {
		skipped := false
		for _, c := range notRetried {
			skipped = skipped || c == code
		}
		if Retryable(code) == skipped {
			t.Errorf("code %d: Retryable %v, but RetryFailed skips it: %v", code, Retryable(code), skipped)
		}
	}
	if Retryable(45015) || !Retryable(-1) || !Retryable(43004) || !TemplateInstead(45015) || TemplateInstead(43004) {
		t.Error("45015 must not be retried (template instead); -1 and 43004 (after re-following) may be")
	}
}
