package handlers

import (
	"context"
	"fmt"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// conflictView is the AppSecret-conflict banner's content, nil when the
// alert is not raised.
func (s *Server) conflictView(ctx context.Context) (*views.ConflictView, error) {
	a, err := s.App.TokenConflictAlert(ctx)
	if err != nil || !a.Active {
		return nil, err
	}
	return &views.ConflictView{Count: a.Count, Last: s.fmtTime(a.Last)}, nil
}

// checkTokenConflict is /readyz's token_conflict check: not ready while
// the alert is raised, since sends then fail intermittently.
func (s *Server) checkTokenConflict(ctx context.Context) readyCheck {
	a, err := s.App.TokenConflictAlert(ctx)
	switch {
	case err != nil:
		return readyCheck{Reason: "token conflicts: " + err.Error()}
	case a.Active:
		return readyCheck{Reason: fmt.Sprintf("%s: %d signs in the last hour, the latest at %s (%s)",
			"AppSecret conflict", a.Count, a.Last.UTC().Format("2006-01-02T15:04:05Z"), service.ConflictAlertText)}
	}
	return readyCheck{OK: true}
}
