package handlers

import (
	"fmt"
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

func (s *Server) templates(w http.ResponseWriter, r *http.Request) error {
	return s.templatesPage(w, r, "", "")
}

func (s *Server) templatesPage(w http.ResponseWriter, r *http.Request, flash, problem string) error {
	ts, err := s.Store.Templates(r.Context())
	if err != nil {
		return err
	}
	rows := make([]views.TemplateRow, len(ts))
	for i, t := range ts {
		rows[i] = views.TemplateRow{ID: t.ID, Title: t.Title, Content: t.Content,
			Keys: wechat.Template{Content: t.Content}.Keys(), Synced: fmtTime(t.SyncedAt)}
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadGateway
	}
	sk := views.SendKeyForm{}
	if m, _, err := s.App.SendKeyTemplate(r.Context()); err == nil {
		sk = views.SendKeyForm{TemplateID: m.TemplateID, TitleKey: m.TitleKey, ContentKey: m.ContentKey, TimeKey: m.TimeKey, Auto: m.Auto}
	}
	s.render(w, r, status, views.TemplatesPage(s.page(r, "模板"), rows, flash, problem, sk))
	return nil
}

// syncTemplates replaces the template list with WeChat's.
func (s *Server) syncTemplates(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	n, err := s.App.SyncTemplates(r.Context(), service.UserActor(u))
	if e := service.AsError(err); err != nil && e.Code == service.EUpstream {
		return s.templatesPage(w, r, "", e.Message)
	}
	if err != nil {
		return err
	}
	return s.templatesPage(w, r, fmt.Sprintf("已同步 %d 个模板。", n), "")
}

// setSendKeyTemplate chooses the template personal push URLs use.
func (s *Server) setSendKeyTemplate(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	err := s.App.SetSendKeyTemplate(r.Context(), service.UserActor(u), service.SendKeyTemplate{
		TemplateID: r.PostFormValue("template_id"),
		TitleKey:   r.PostFormValue("title_key"),
		ContentKey: r.PostFormValue("content_key"),
		TimeKey:    r.PostFormValue("time_key"),
	})
	if err != nil {
		return err
	}
	return s.templatesPage(w, r, "通知模板已保存。", "")
}
