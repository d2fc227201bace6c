package wechat

import (
	"errors"
	"time"
)

// AppSecret conflicts. stable_token hands every caller of an app the same
// token and rotates it only in its last 5 minutes (docs/wechat.md, "Access
// token"; WeChat's getStableAccessToken page): while wxpush is the only
// holder, its token is never refused before then. Another system using the
// same AppSecret with force_refresh (or an SDK that forces a refresh on
// every 40001) replaces it early, and wxpush's calls start failing with
// 40001 — the storms that sites sharing one AppSecret report. The manager
// reports two signs of it:
//
//   - ConflictRejected: WeChat refused (40001/40014) the token the manager
//     holds while it had ConflictMargin or more left;
//   - ConflictReplaced: an unforced stable_token call answered a token other
//     than the one held while that one had ConflictMargin or more left.
//
// One replaced token is reported once, whichever sign comes first.

// ConflictMargin: a token with this much left cannot have been rotated by
// WeChat's own schedule (5 minutes before expiry, valid 5 more).
const ConflictMargin = 15 * time.Minute

// Kinds of TokenConflict.
const (
	ConflictRejected = "rejected"
	ConflictReplaced = "replaced"
)

// TokenConflict is one sign that another system refreshed the token.
type TokenConflict struct {
	At      time.Time
	Kind    string        // ConflictRejected or ConflictReplaced
	ErrCode int           // ConflictRejected: 40001 or 40014
	Left    time.Duration // how long the replaced token still had
}

type conflictState struct {
	on       func(TokenConflict)
	held     Token  // the last token set current
	reported string // the last token reported as replaced
}

// noteRejected is called when a call with tok failed as token-invalid.
func (m *TokenManager) noteRejected(tok string, err error) {
	var we *Error
	if !errors.As(err, &we) || (we.Code != 40001 && we.Code != 40014) {
		return // 42001: expired, WeChat's own schedule
	}
	m.mu.Lock()
	now := m.now()
	held := m.conflicts.held
	left := held.ExpiresAt.Sub(now)
	if held.AccessToken != tok || left < ConflictMargin || m.conflicts.reported == tok {
		m.mu.Unlock()
		return
	}
	m.conflicts.reported = tok
	m.mu.Unlock()
	m.report(TokenConflict{At: now, Kind: ConflictRejected, ErrCode: we.Code, Left: left})
}

// noteReplaced is called with the answer of an unforced stable_token call.
func (m *TokenManager) noteReplaced(t Token) {
	m.mu.Lock()
	now := m.now()
	held := m.conflicts.held
	left := held.ExpiresAt.Sub(now)
	if held.AccessToken == "" || held.AccessToken == t.AccessToken || left < ConflictMargin || m.conflicts.reported == held.AccessToken {
		m.mu.Unlock()
		return
	}
	m.conflicts.reported = held.AccessToken
	m.mu.Unlock()
	m.report(TokenConflict{At: now, Kind: ConflictReplaced, Left: left})
}

func (m *TokenManager) report(c TokenConflict) {
	m.log.Warn("wechat: another system seems to refresh this app's access token (AppSecret conflict)", "app", m.c.AppID,
		"kind", c.Kind, "errcode", c.ErrCode, "token_time_left", c.Left.Round(time.Second))
	if m.conflicts.on != nil {
		m.conflicts.on(c)
	}
}
