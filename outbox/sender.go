package outbox

import (
	"context"

	"github.com/wxpush/wxpush/wechat"
)

// WeChatSender sends through the WeChat API with the shared access token;
// the token manager refreshes and retries once on token errors (docs/wechat.md §1).
type WeChatSender struct {
	Client *wechat.Client
	Tokens *wechat.TokenManager
}

func (s WeChatSender) SendTemplate(ctx context.Context, m wechat.TemplateMessage) (int64, error) {
	var id int64
	err := s.Tokens.Do(ctx, func(ctx context.Context, token string) error {
		var err error
		id, err = s.Client.SendTemplate(ctx, token, m)
		return err
	})
	return id, err
}

func (s WeChatSender) SendText(ctx context.Context, openid, content string) error {
	return s.Tokens.Do(ctx, func(ctx context.Context, token string) error {
		return s.Client.SendText(ctx, token, openid, content)
	})
}
