package service

import (
	"context"
	"fmt"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// SyncTemplates replaces the template list with the account's templates
// at WeChat (get_all_private_template) and returns how many there are.
// by is audited unless it is System (the start-up sync).
func (s *Service) SyncTemplates(ctx context.Context, by Actor) (int, error) {
	var ts []wechat.Template
	err := s.tokens.Do(ctx, func(ctx context.Context, token string) error {
		var err error
		ts, err = s.wx.Templates(ctx, token)
		return err
	})
	if err != nil {
		return 0, &Error{Code: EUpstream, Message: "同步失败：" + ExplainWeChat(err), Err: err}
	}
	out := make([]store.Template, len(ts))
	for i, t := range ts {
		out[i] = store.Template{ID: t.ID, Title: t.Title, Content: t.Content, Example: t.Example,
			PrimaryIndustry: t.PrimaryIndustry, DeputyIndustry: t.DeputyIndustry}
	}
	if err := s.store.ReplaceTemplates(ctx, out); err != nil {
		return 0, err
	}
	s.audit(ctx, by, "templates.sync", fmt.Sprintf("%d 个模板", len(out)), "")
	return len(out), nil
}
