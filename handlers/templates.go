package handlers

import (
	"fmt"
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

func (s *Server) templates(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Store.Templates(r.Context())
	if err != nil {
		return err
	}
	rows := make([]views.TemplateRow, len(ts))
	for i, t := range ts {
		rows[i] = views.TemplateRow{ID: t.ID, Title: t.Title, Content: t.Content,
			Keys: wechat.Template{Content: t.Content}.Keys(), Synced: s.fmtTime(t.SyncedAt)}
	}
	sk := views.SendKeyForm{}
	if m, _, err := s.App.SendKeyTemplate(r.Context()); err == nil {
		sk = views.SendKeyForm{TemplateID: m.TemplateID, TitleKey: m.TitleKey, ContentKey: m.ContentKey, TimeKey: m.TimeKey, Auto: m.Auto}
	}
	if f := flashFrom(r).Form; f != nil {
		// A refused choice: show what was chosen, and why not.
		sk = views.SendKeyForm{TemplateID: f.Value("template_id"), TitleKey: f.Value("title_key"), ContentKey: f.Value("content_key"), Error: f.Error}
	}
	s.render(w, r, http.StatusOK, views.TemplatesPage(s.page(r, "模板"), rows, sk))
	return nil
}

// syncTemplates replaces the template list with WeChat's, then shows the
// templates page with the result.
func (s *Server) syncTemplates(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	n, err := s.App.SyncTemplates(r.Context(), service.UserActor(u))
	if e := service.AsError(err); err != nil && e.Code == service.EUpstream {
		s.redirectFlash(w, r, "/admin/templates", Flash{Problem: e.Message})
		return nil
	}
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin/templates", Flash{Notice: fmt.Sprintf("已从微信同步 %d 个模板。", n)})
	return nil
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
	if e := service.AsError(err); err != nil && e.Code == service.EInvalid {
		_ = r.ParseForm()
		s.redirectFlash(w, r, "/admin/templates#sendkey-template", Flash{Form: &FormFlash{Values: r.PostForm, Error: e.Message, Fields: e.Fields}})
		return nil
	}
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin/templates", Flash{Notice: "通知模板已保存。"})
	return nil
}
