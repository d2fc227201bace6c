package service

import (
	"context"
	"fmt"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// AppSecret conflicts: another system fetching access tokens with the same
// AppSecret replaces wxpush's (wechat/conflict.go). One sign is recorded
// and audited; repeats within ConflictWindow raise the alert (dashboard
// banner, /readyz).

// ConflictWindow is how recent the signs of an alert are.
const ConflictWindow = time.Hour

// ConflictAlertText is the banner's headline.
const ConflictAlertText = "检测到另一个系统在使用同一 AppSecret 获取 access_token"

// ConflictAlert says whether the alert is raised.
type ConflictAlert struct {
	Active bool
	Count  int       // signs within the window
	Last   time.Time // the latest sign
}

// RecordTokenConflict stores a sign the token manager reported, with its
// audit entry (actor: the system).
func (s *Service) RecordTokenConflict(ctx context.Context, c wechat.TokenConflict) {
	detail := fmt.Sprintf("微信提前替换了 wxpush 的 access_token（剩余 %s）", c.Left.Round(time.Minute))
	if c.Kind == wechat.ConflictRejected {
		detail = fmt.Sprintf("微信以 %d 拒绝了剩余 %s 有效期的 access_token", c.ErrCode, c.Left.Round(time.Minute))
	}
	err := s.store.RecordTokenConflict(ctx, store.TokenConflict{At: c.At, Kind: c.Kind, ErrCode: c.ErrCode, Left: c.Left},
		store.AuditEntry{Actor: "系统", Action: "wechat.token_conflict", Target: ConflictAlertText, Detail: detail})
	if err != nil {
		s.log.Error("recording a token conflict", "err", err)
	}
}

// TokenConflictAlert reports the signs of the last ConflictWindow: the
// alert is active from the second.
func (s *Service) TokenConflictAlert(ctx context.Context) (ConflictAlert, error) {
	n, last, err := s.store.TokenConflictsSince(ctx, s.now().Add(-ConflictWindow))
	return ConflictAlert{Active: n >= 2, Count: n, Last: last}, err
}
