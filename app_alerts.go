package main

import (
	"context"

	"github.com/wxpush/wxpush/wechat"
)

// tokenConflict is the token manager's OnConflict: a sign that another
// system refreshes the access token is counted and recorded (with its
// audit entry); repeats raise the dashboard's alert and fail /readyz.
func (a *App) tokenConflict(c wechat.TokenConflict) {
	if a.metrics != nil {
		a.metrics.TokenConflict()
	}
	if a.service != nil {
		a.service.RecordTokenConflict(context.Background(), c)
	}
}
