package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// bindCodeLimit bounds the binding QR codes one user may create, the
// 「刷新二维码」 button included: in scan mode each is a qrcode/create call
// to WeChat, and each is a database row.
var bindCodeLimit = store.Limit{Max: 10, Per: 10 * time.Minute}

// maxLiveBindCodes bounds liveBindCodes; past it expired entries go, and
// if that is not enough, all (a forgotten code only costs a new one).
const maxLiveBindCodes = 4096

// liveBindCodes remembers, per user, the binding panel last issued, so
// that reloading /bind shows the same QR code instead of creating a token
// and a WeChat QR code every time. It lives in memory only, on purpose:
// the panel carries the token itself (the OAuth state, or the QR code
// that carries it as scene), which the database keeps only as a hash.
// After a restart the first /bind makes a new code.
type liveBindCodes struct {
	mu     sync.Mutex
	panels map[int64]liveBindCode // by user id
	// create makes concurrent first visits of one user share one new code.
	create singleflight.Group
	// afterMiss, when set (tests), runs after a visit found no live code
	// and before it asks create for one.
	afterMiss func()
}

type liveBindCode struct {
	panel   views.BindPanel
	expires time.Time
}

func newLiveBindCodes() *liveBindCodes {
	return &liveBindCodes{panels: map[int64]liveBindCode{}}
}

func (c *liveBindCodes) get(userID int64) (views.BindPanel, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lc, ok := c.panels[userID]
	return lc.panel, ok
}

func (c *liveBindCodes) remember(userID int64, p views.BindPanel, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.panels) >= maxLiveBindCodes {
		for id, lc := range c.panels {
			if !now.Before(lc.expires) {
				delete(c.panels, id)
			}
		}
		if len(c.panels) >= maxLiveBindCodes {
			clear(c.panels)
		}
	}
	c.panels[userID] = liveBindCode{panel: p, expires: expires}
}

// forget drops the user's remembered panel if it is still that of tokenID.
func (c *liveBindCodes) forget(userID, tokenID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc, ok := c.panels[userID]; ok && lc.panel.TokenID == tokenID {
		delete(c.panels, userID)
	}
}

// bindPanelFor is the QR panel of GET /bind: the user's live code while it
// is unused and has more than a third of its lifetime left (time to scan
// it), else a new one, within bindCodeLimit.
func (s *Server) bindPanelFor(r *http.Request, u store.User) (views.BindPanel, error) {
	ctx := r.Context()
	if p, ok, err := s.liveBindPanel(ctx, u.ID); ok || err != nil {
		return p, err
	}
	if s.bindCodes.afterMiss != nil {
		s.bindCodes.afterMiss()
	}
	v, err, _ := s.bindCodes.create.Do(strconv.FormatInt(u.ID, 10), func() (any, error) {
		// A visit that waited on another's creation finds it here.
		if p, ok, err := s.liveBindPanel(ctx, u.ID); ok || err != nil {
			return p, err
		}
		// Shared by every waiting request: one leaving must not cancel it.
		return s.newBindPanel(r.WithContext(context.WithoutCancel(ctx)), u)
	})
	if err != nil {
		return views.BindPanel{}, err
	}
	return v.(views.BindPanel), nil
}

// liveBindPanel returns the user's remembered panel if its token is still
// good for long enough.
func (s *Server) liveBindPanel(ctx context.Context, userID int64) (views.BindPanel, bool, error) {
	p, ok := s.bindCodes.get(userID)
	if !ok {
		return views.BindPanel{}, false, nil
	}
	// The token's state, from the store's cache: the page polls it anyway.
	tok, _, err := s.Store.BindStatus(ctx, userID, p.TokenID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return views.BindPanel{}, false, err
	case !tok.Used() && tok.ExpiresAt.Sub(s.Now()) > s.Config.BindTTL/3:
		return p, true, nil
	}
	s.bindCodes.forget(userID, p.TokenID)
	return views.BindPanel{}, false, nil
}

// bindLimitError turns the store's refusal of one more binding token into
// the page the user sees; other errors pass through.
func bindLimitError(err error) error {
	var le *store.LimitError
	if !errors.As(err, &le) {
		return err
	}
	return &httpError{Status: http.StatusTooManyRequests, Title: "操作太频繁", Err: err,
		Msg: fmt.Sprintf("二维码生成太频繁：每 %d 分钟最多生成 %d 个绑定二维码。请在 %s 后再刷新。",
			int(bindCodeLimit.Per/time.Minute), bindCodeLimit.Max, le.RetryAt.In(beijing).Format("15:04:05"))}
}
