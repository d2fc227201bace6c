package handlers

import (
	"context"
	"maps"
	"net/http"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"

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

// fillReach forecasts, for a text, how many recipients get it as text and
// how many the notification template (or nothing: outside the window
// without fallback).
func (s *Server) fillReach(ctx context.Context, c *views.Compose, people []store.Person) error {
	selected := c.Selected
	if !c.All && len(c.SelectedTopics) > 0 {
		slugs := make([]string, 0, len(c.SelectedTopics))
		for slug := range c.SelectedTopics {
			slugs = append(slugs, slug)
		}
		ids, err := s.App.TopicMemberIDs(ctx, slugs)
		if err != nil && !isNotFound(err) {
			return err
		}
		selected = maps.Clone(c.Selected)
		for _, id := range ids {
			selected[id] = true
		}
	}
	r, err := s.App.TextReach(ctx, people, c.All, selected, c.Fallback)
	if err != nil {
		return err
	}
	c.Reach = &views.Reach{Text: r.Text, Template: r.Template, Fail: r.Fail, NoTemplate: r.NoTemplate, Fallback: c.Fallback}
	return nil
}

// composeReach answers the compose form's changes with the forecast for a
// text (nothing for other kinds).
func (s *Server) composeReach(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, _, err := s.composeState(ctx, r)
	if err != nil {
		return err
	}
	if c.Kind == store.KindText {
		people, err := s.Store.People(ctx)
		if err != nil {
			return err
		}
		if err := s.fillReach(ctx, &c, people); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, views.ComposeReach(c.Reach))
	return nil
}

// isNotFound reports a use case's ENotFound (an unknown topic, …).
func isNotFound(err error) bool { return service.ErrorCode(err) == service.ENotFound }
