package handlers

import (
	"context"
	"strings"

	"github.com/wxpush/wxpush/views"
)

// notificationPreview is how a notification being composed will look: the
// notification template's card with the fields it will get, and the
// detail page the card opens.
func (s *Server) notificationPreview(ctx context.Context, n views.NoteInput) views.Preview {
	title := strings.TrimSpace(n.Title)
	pv := views.Preview{Kind: "template", URL: "detail",
		Page: &views.PagePreview{Title: title, Body: detailBody(strings.TrimSpace(n.Content), n.ContentType)}}
	nt, tpl, err := s.App.SendKeyTemplate(ctx)
	if err != nil {
		pv.Problem = "还没有设置通知模板：请在「模板」页选择通知使用的模板。"
		return pv
	}
	data, _ := s.App.NotificationData(nt, tpl, title, n.Summary, n.Content, n.ContentType)
	pv.Title, pv.Lines = tpl.Title, views.TemplateLines(tpl.Content, data)
	if n.URL != "" {
		pv.URL = n.URL
	}
	return pv
}
