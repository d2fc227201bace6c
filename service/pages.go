package service

import (
	"context"
	"errors"

	"github.com/wxpush/wxpush/store"
)

// MessagePage returns the detail page a token opens. ENotFound for tokens
// that are malformed or match no message (or one retention deleted): the
// answer does not tell which.
func (s *Service) MessagePage(ctx context.Context, token string) (store.MessagePage, error) {
	notFound := &Error{Code: ENotFound, Reason: "unknown_page", Message: "消息不存在或已过期。"}
	if len(token) != pageTokenLen || !validToken.MatchString(token) {
		return store.MessagePage{}, notFound
	}
	p, err := s.store.PageByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return p, notFound
	}
	return p, err
}

// PageOf returns a message's detail page; ENotFound when it has none
// (messages sent before pages existed).
func (s *Service) PageOf(ctx context.Context, messageID int64) (store.Page, error) {
	p, err := s.store.PageOf(ctx, messageID)
	if errors.Is(err, store.ErrNotFound) {
		return p, &Error{Code: ENotFound, Message: "这条消息没有详情页。"}
	}
	return p, err
}

// SiteName is how pages name the site.
func (s *Service) SiteName() string { return s.cfg.SiteName }
