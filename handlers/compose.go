package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// The compose page: choose recipients and content, preview the card, send.

// composeState reads the compose form (or the query, for a first visit):
// what the preview and the send need. composeLists adds what only the
// whole page shows.
func (s *Server) composeState(ctx context.Context, r *http.Request) (views.Compose, service.SendRequest, error) {
	_ = r.ParseForm()
	return s.composeStateOf(ctx, r.Form)
}

func (s *Server) composeStateOf(ctx context.Context, f url.Values) (views.Compose, service.SendRequest, error) {
	c := views.Compose{
		Kind:       f.Get("kind"),
		All:        f.Get("to") != "users",
		Selected:   map[int64]bool{},
		Text:       f.Get("text"),
		TemplateID: f.Get("template_id"),
		URL:        strings.TrimSpace(f.Get("url")),
		Errors:     map[string]string{},
		// The box is ticked unless a submitted form left it unticked.
		Fallback: f.Get("fallback") == "1" || f.Get("fallback_shown") == "",
		Note: views.NoteInput{Title: f.Get("title"), Content: f.Get("content"), ContentType: f.Get("content_type"),
			Summary: f.Get("summary"), URL: strings.TrimSpace(f.Get("note_url"))},
	}
	if c.Note.ContentType == "" {
		c.Note.ContentType = store.ContentMarkdown
	}
	if c.TemplateID == "" {
		c.TemplateID = f.Get("template")
	}
	if c.Kind == "" {
		c.Kind = store.KindTemplate
	}
	req := service.SendRequest{Kind: c.Kind, Text: c.Text, TemplateID: c.TemplateID, URL: c.URL, All: c.All,
		Data: map[string]string{}, NoFallback: c.Kind == store.KindText && !c.Fallback}
	if c.Kind == service.KindNotification {
		n := c.Note
		req.Title, req.Content, req.ContentType, req.Summary, req.URL = n.Title, n.Content, n.ContentType, n.Summary, n.URL
	}
	for _, v := range f["user"] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			c.Selected[id] = true
			req.UserIDs = append(req.UserIDs, id)
		}
	}
	c.SelectedTopics = map[string]bool{}
	for _, slug := range f["topic"] {
		c.SelectedTopics[slug] = true
		if !c.All {
			req.Topics = append(req.Topics, slug)
		}
	}
	c.Preview = views.Preview{Kind: c.Kind, Text: strings.TrimSpace(c.Text), Empty: true}
	if c.Kind == service.KindNotification {
		c.Preview = s.notificationPreview(ctx, c.Note)
		return c, req, nil
	}
	if c.TemplateID != "" {
		t, err := s.Store.Template(ctx, c.TemplateID)
		if err == nil {
			data := map[string]string{}
			for _, l := range views.TemplateLines(t.Content, nil) {
				v := f.Get("data." + l.Key)
				data[l.Key] = v
				req.Data[l.Key] = v
				c.Fields = append(c.Fields, views.FieldInput{Key: l.Key, Label: l.Label, Value: v, Hint: fieldHint(l.Key)})
			}
			c.Preview = views.Preview{Kind: c.Kind, Title: t.Title, Lines: views.TemplateLines(t.Content, data), URL: c.URL, Text: c.Preview.Text}
		} else if !errors.Is(err, store.ErrNotFound) {
			return c, req, err
		}
	}
	return c, req, nil
}

// composeLists fills in the recipients and templates to choose from, and
// for customer-service text who it reaches now (their window).
func (s *Server) composeLists(ctx context.Context, c *views.Compose) error {
	people, err := s.Store.People(ctx)
	if err != nil {
		return err
	}
	windows, err := s.App.TextWindows(ctx)
	if err != nil {
		return err
	}
	var active []store.Person // bound and enabled: who can be sent to
	for _, p := range people {
		if !p.Bound || p.Disabled() {
			continue
		}
		row := s.personRow(p, windows[p.ID])
		c.Recipients = append(c.Recipients, row)
		active = append(active, p)
		if !c.All && !c.Selected[p.ID] {
			continue
		}
		c.Windows.Total++
		if row.InWindow {
			c.Windows.NowN++
			if len(c.Windows.Now) < 5 {
				c.Windows.Now = append(c.Windows.Now, fmt.Sprintf("%s（至 %s，还可 %d 条）", p.Name, row.WindowUntil, row.WindowLeft))
			}
		} else {
			c.Windows.Rest++
			if c.Kind == store.KindText {
				c.OutsideWindow = append(c.OutsideWindow, p.Name)
			}
		}
	}
	if c.Kind == store.KindText {
		if err := s.fillReach(ctx, c, active); err != nil {
			return err
		}
	}
	ts, err := s.Store.Templates(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		c.Templates = append(c.Templates, views.TemplateOption{ID: t.ID, Title: t.Title})
	}
	topics, err := s.App.Topics(ctx)
	if err != nil {
		return err
	}
	c.Topics = topicCounts(topics)
	return nil
}

// composeProblems runs the send's own checks (service.CheckSend) on the
// form as it stands: 发送 is disabled while a problem stands. Problems a
// refused send reported (touched) show at once; the others once their
// field is touched.
func (s *Server) composeProblems(ctx context.Context, c *views.Compose, req service.SendRequest, touched map[string]string) error {
	problems, err := s.App.CheckSend(ctx, req)
	if err != nil {
		return err
	}
	c.Errors, c.Touched = map[string]string{}, map[string]bool{}
	for k, v := range problems {
		c.Errors[k] = v
	}
	for k, v := range touched {
		c.Errors[k], c.Touched[k] = v, true
	}
	// In the form's order: recipients, kind, template, its fields, link, text.
	order := []string{"to", "kind", "template"}
	for _, f := range c.Fields {
		order = append(order, "data."+f.Key)
	}
	order = append(order, "title", "content", "content_type", "summary", "url", "text")
	seen := map[string]bool{}
	for _, k := range order {
		if msg, ok := c.Errors[k]; ok && !seen[k] {
			seen[k] = true
			c.Problems = append(c.Problems, msg)
		}
	}
	for k, msg := range c.Errors { // anything else (data keys not in the template)
		if !seen[k] {
			c.Problems = append(c.Problems, msg)
		}
	}
	return nil
}

// composeCheck answers the form's live check: each field's problem, who a
// text reaches, and whether 发送 is enabled — all out of band.
func (s *Server) composeCheck(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, req, err := s.composeState(ctx, r)
	if err != nil {
		return err
	}
	if err := s.composeLists(ctx, &c); err != nil {
		return err
	}
	if err := s.composeProblems(ctx, &c, req, nil); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.ComposeCheck(c))
	return nil
}

// fieldHint states WeChat's rule for a category-template key
// (docs/wechat.md, "Template message").
func fieldHint(key string) string {
	prefix := strings.TrimRight(key, "0123456789")
	return map[string]string{
		"thing":            "最多 20 个字符",
		"phrase":           "最多 5 个汉字，只能是汉字",
		"character_string": "最多 32 位数字、字母或符号，不能有汉字",
		"number":           "最多 32 位数字，可带小数",
		"letter":           "最多 32 个字母",
		"symbol":           "最多 5 个符号",
		"amount":           "货币符号 + 最多 10 位数字，可带小数，可以“元”结尾",
		"time":             "24 小时制时间，如 15:01 或 2019年10月1日 15:01",
		"date":             "日期，如 2019年10月1日，可带时间",
		"phone_number":     "最多 17 位数字或符号，如 +86-0766-66888866",
		"car_number":       "最多 8 个字符，如 粤A8Z888挂",
		"name":             "最多 10 个汉字或 20 个字母",
		"const":            "平台审核过的固定值，最多 20 个字符",
	}[prefix]
}

func (s *Server) composePage(w http.ResponseWriter, r *http.Request) error {
	form, errs := r.URL.Query(), map[string]string{}
	if f := flashFrom(r).Form; f != nil {
		// A refused send, redirected here: the form as it was, each
		// problem beside its field.
		form, errs = f.Values, f.Fields
	}
	c, req, err := s.composeStateOf(r.Context(), form)
	if err != nil {
		return err
	}
	if err := s.composeLists(r.Context(), &c); err != nil {
		return err
	}
	if err := s.composeProblems(r.Context(), &c, req, errs); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.ComposePage(s.page(r, "发送消息"), c))
	return nil
}

func (s *Server) composeFields(w http.ResponseWriter, r *http.Request) error {
	c, _, err := s.composeState(r.Context(), r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.TemplateFields(c.Fields, nil, nil))
	return nil
}

func (s *Server) composePreview(w http.ResponseWriter, r *http.Request) error {
	c, _, err := s.composeState(r.Context(), r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.PreviewCard(c.Preview))
	return nil
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, req, err := s.composeState(ctx, r)
	if err != nil {
		return err
	}
	u, _ := userFrom(ctx)
	m, err := s.App.Send(ctx, service.UserActor(u), req)
	if se := service.AsError(err); err != nil && se.Fields != nil {
		if se.Code == service.ETooLarge {
			// Too large to carry back through a flash: answer 413 with
			// the form shown again, each problem beside its field.
			if err := s.composeLists(ctx, &c); err != nil {
				return err
			}
			if err := s.composeProblems(ctx, &c, req, se.Fields); err != nil {
				return err
			}
			s.render(w, r, http.StatusRequestEntityTooLarge, views.ComposePage(s.page(r, "发送消息"), c))
			return nil
		}
		// Back to the form (303), filled in, each problem beside its field.
		s.redirectFlash(w, r, "/admin/compose", Flash{Form: &FormFlash{Values: r.PostForm, Fields: se.Fields}})
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/messages/"+strconv.FormatInt(m.ID, 10), http.StatusSeeOther)
	return nil
}
