package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxpush/wxpush/store"
)

// BindCodeLimit bounds the binding codes one user may create, the
// 「刷新二维码」 button included: in scan mode each is a qrcode/create call
// to WeChat, and each is a database row.
var BindCodeLimit = store.Limit{Max: 10, Per: 10 * time.Minute}

// maxLiveBindCodes bounds liveBindCodes; past it expired entries go, and
// if that is not enough, all (a forgotten code only costs a new one).
const maxLiveBindCodes = 4096

// liveBindCodes remembers, per user, the binding code last issued, so that
// reloading /bind shows the same QR code instead of creating a token and a
// WeChat QR code every time. It lives in memory only, on purpose: the code
// carries the token itself (the OAuth state, or the QR code that carries
// it as scene), which the database keeps only as a hash. After a restart
// the first /bind makes a new code.
type liveBindCodes struct {
	mu    sync.Mutex
	codes map[int64]BindCode // by user id
	// create makes concurrent first visits of one user share one new code.
	create singleflight.Group
	// afterMiss, when set (tests), runs after a visit found no live code
	// and before it asks create for one.
	afterMiss func()
}

func (c *liveBindCodes) get(userID int64) (BindCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	code, ok := c.codes[userID]
	return code, ok
}

func (c *liveBindCodes) remember(userID int64, code BindCode, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[int64]BindCode{}
	}
	if len(c.codes) >= maxLiveBindCodes {
		for id, lc := range c.codes {
			if lc.Token.Expired(now) {
				delete(c.codes, id)
			}
		}
		if len(c.codes) >= maxLiveBindCodes {
			clear(c.codes)
		}
	}
	c.codes[userID] = code
}

// forget drops the user's remembered code if it is still that of tokenID.
func (c *liveBindCodes) forget(userID, tokenID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc, ok := c.codes[userID]; ok && lc.Token.ID == tokenID {
		delete(c.codes, userID)
	}
}

// drop forgets the user's remembered code (their binding codes were
// deleted: the account was disabled or deleted).
func (c *liveBindCodes) drop(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.codes, userID)
}

// BindCode is the code /bind shows: the user's live code while it is
// unused and has more than a third of its lifetime left (time to scan it),
// else a new one (StartBinding, within BindCodeLimit).
func (s *Service) BindCode(ctx context.Context, userID int64) (BindCode, error) {
	if c, ok, err := s.liveBindCode(ctx, userID); ok || err != nil {
		return c, err
	}
	if s.bindCodes.afterMiss != nil {
		s.bindCodes.afterMiss()
	}
	v, err, _ := s.bindCodes.create.Do(strconv.FormatInt(userID, 10), func() (any, error) {
		// A visit that waited on another's creation finds it here.
		if c, ok, err := s.liveBindCode(ctx, userID); ok || err != nil {
			return c, err
		}
		// Shared by every waiting request: one leaving must not cancel it.
		return s.StartBinding(context.WithoutCancel(ctx), userID)
	})
	if err != nil {
		return BindCode{}, err
	}
	return v.(BindCode), nil
}

// liveBindCode returns the user's remembered code if its token is still
// good for long enough.
func (s *Service) liveBindCode(ctx context.Context, userID int64) (BindCode, bool, error) {
	c, ok := s.bindCodes.get(userID)
	if !ok {
		return BindCode{}, false, nil
	}
	// The token's state, from the store's cache: the page polls it anyway.
	tok, _, err := s.store.BindStatus(ctx, userID, c.Token.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return BindCode{}, false, err
	case !tok.Used() && tok.ExpiresAt.Sub(s.now()) > s.cfg.BindTTL/3:
		return c, true, nil
	}
	s.bindCodes.forget(userID, c.Token.ID)
	return BindCode{}, false, nil
}

// bindLimitError words the store's refusal of one more binding token.
func bindLimitError(err error) error {
	var le *store.LimitError
	if !errors.As(err, &le) {
		return err
	}
	return &Error{Code: ETooMany, Err: err, RetryAt: le.RetryAt,
		Message: fmt.Sprintf("二维码生成太频繁：每 %d 分钟最多生成 %d 个绑定二维码。请在 %s 后再刷新。",
			int(BindCodeLimit.Per/time.Minute), BindCodeLimit.Max, le.RetryAt.In(beijing).Format("15:04:05"))}
}

// beijing: the time people using a WeChat official account read (template
// fields, replies in WeChat, retry times); one zone for the whole package.
var beijing = time.FixedZone("CST", 8*3600)
