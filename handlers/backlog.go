package handlers

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// zhDuration says a duration in Chinese, to the second under an hour:
// "12 秒", "3 分 20 秒", "2 小时 5 分", "3 天 4 小时".
func zhDuration(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%d 秒", s)
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d 分", s/60)
		}
		return fmt.Sprintf("%d 分 %d 秒", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%d 小时 %d 分", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%d 天 %d 小时", s/86400, s%86400/3600)
	}
}

// groupDigits writes n with thousands separators: 1,204.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (s *Server) backlogView(b service.Backlog, ahead int, aheadCapped bool, eta time.Duration) *views.BacklogView {
	v := &views.BacklogView{Depth: groupDigits(b.Depth), Overdue: b.Over(s.App.Config().MaxBacklog)}
	if b.Capped {
		v.Depth = "超过 " + v.Depth
	}
	if b.Depth > 0 {
		v.Oldest = zhDuration(b.Oldest)
	}
	if ahead > 0 {
		v.Ahead = groupDigits(ahead)
		if aheadCapped {
			v.Ahead = "超过 " + v.Ahead
		}
	}
	if eta >= 0 && b.Rate > 0 {
		v.Rate = fmt.Sprintf("%.0f/秒", b.Rate)
		v.ETA = zhDuration(eta) + "后"
		if b.Capped || aheadCapped {
			v.ETA = "至少 " + v.ETA
		}
	}
	return v
}

// dashboardBacklog is the whole queue for the dashboard; nil (not shown)
// when it cannot be read.
func (s *Server) dashboardBacklog(ctx context.Context) *views.BacklogView {
	b, err := s.App.Backlog(ctx)
	if err != nil {
		s.logger(ctx).Warn("reading the backlog", "err", err)
		return nil
	}
	return s.backlogView(b, 0, false, b.ETA)
}

// messageBacklog is the queue as a message's page shows it: nil once the
// message has nothing pending.
func (s *Server) messageBacklog(ctx context.Context, pr views.Progress) *views.BacklogView {
	if pr.Done {
		return nil
	}
	mb, err := s.App.MessageBacklog(ctx, pr.MessageID)
	if err != nil {
		s.logger(ctx).Warn("reading the backlog", "err", err)
		return nil
	}
	return s.backlogView(mb.Backlog, mb.Ahead, mb.AheadCapped, mb.ETA)
}

// apiBacklog is the queue in GET /api/v1/messages/{id} and /readyz.
type apiBacklog struct {
	Depth        int      `json:"depth"`          // deliveries queued or waiting to retry
	DepthCapped  bool     `json:"depth_capped"`   // depth is a lower bound: counting stopped there
	OldestSecs   float64  `json:"oldest_seconds"` // how long the oldest has waited since it was queued
	RatePerSec   float64  `json:"rate_per_second"`
	ETASeconds   *float64 `json:"eta_seconds"`           // to drain it at the recent rate; null: unknown (nothing delivered lately)
	MaxBacklog   int      `json:"max_backlog,omitempty"` // WXPUSH_MAX_BACKLOG; 0/absent: no limit
	OverCapacity bool     `json:"over_capacity,omitempty"`
}

func secs(d time.Duration) *float64 {
	if d < 0 {
		return nil
	}
	f := math.Round(d.Seconds()*10) / 10
	return &f
}

func (s *Server) apiBacklogOf(b service.Backlog) apiBacklog {
	max := s.App.Config().MaxBacklog
	return apiBacklog{Depth: b.Depth, DepthCapped: b.Capped, OldestSecs: math.Round(b.Oldest.Seconds()*10) / 10,
		RatePerSec: math.Round(b.Rate*10) / 10, ETASeconds: secs(b.ETA), MaxBacklog: max, OverCapacity: b.Over(max)}
}

// apiMessageBacklog is the queue and one message's place in it.
type apiMessageBacklog struct {
	apiBacklog
	Ahead       int  `json:"ahead"` // deliveries queued up to the message's last queued one, its own included
	AheadCapped bool `json:"ahead_capped"`
	// MessageETA: until the message's last queued delivery should be
	// sent, at the recent rate; null: unknown.
	MessageETA *float64 `json:"message_eta_seconds"`
}

// apiMessageBacklogOf is nil once the message has nothing pending.
func (s *Server) apiMessageBacklogOf(ctx context.Context, id int64, done bool) (*apiMessageBacklog, error) {
	if done {
		return nil, nil
	}
	mb, err := s.App.MessageBacklog(ctx, id)
	if err != nil {
		return nil, err
	}
	return &apiMessageBacklog{apiBacklog: s.apiBacklogOf(mb.Backlog), Ahead: mb.Ahead, AheadCapped: mb.AheadCapped,
		MessageETA: secs(mb.ETA)}, nil
}
