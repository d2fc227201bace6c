package handlers

import (
	"net/http"
	"net/url"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// Topics on the dashboard: the list with subscriber counts, creating,
// editing, deleting, and adding or removing subscribers.

func topicCounts(ts []store.Topic) []views.TopicCount {
	out := make([]views.TopicCount, len(ts))
	for i, t := range ts {
		out[i] = views.TopicCount{Slug: t.Slug, Name: t.Name, Subscribers: t.Subscribers, Bound: t.Bound}
	}
	return out
}

func topicForm(r *http.Request) (views.TopicForm, service.TopicInput) {
	f := views.TopicForm{Slug: r.PostFormValue("slug"), Name: r.PostFormValue("name"), Description: r.PostFormValue("description"),
		SelfSubscribe: r.PostFormValue("self_subscribe") == "1"}
	return f, service.TopicInput{Slug: f.Slug, Name: f.Name, Description: f.Description, SelfSubscribe: f.SelfSubscribe}
}

func (s *Server) adminTopics(w http.ResponseWriter, r *http.Request) error {
	return s.renderAdminTopics(w, r, http.StatusOK, views.TopicForm{SelfSubscribe: true}, "")
}

func (s *Server) renderAdminTopics(w http.ResponseWriter, r *http.Request, status int, f views.TopicForm, flash string) error {
	ts, err := s.App.Topics(r.Context())
	if err != nil {
		return err
	}
	if flash == "" && r.URL.Query().Get("done") == "deleted" {
		flash = "主题已删除。"
	}
	s.render(w, r, status, views.AdminTopicsPage(s.page(r, "主题"), views.AdminTopics{Topics: topicCounts(ts), Form: f, Flash: flash}))
	return nil
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	f, in := topicForm(r)
	t, err := s.App.CreateTopic(r.Context(), service.UserActor(u), in)
	if se := service.AsError(err); err != nil && se.Fields != nil {
		f.Errors = se.Fields
		return s.renderAdminTopics(w, r, http.StatusUnprocessableEntity, f, "")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/topics/"+url.PathEscape(t.Slug)+"?done=created", http.StatusSeeOther)
	return nil
}

func (s *Server) adminTopic(w http.ResponseWriter, r *http.Request) error {
	t, err := s.App.Topic(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	flash := map[string]string{"created": "主题已创建。", "saved": "已保存。", "added": "已添加订阅者。", "removed": "已移除订阅者。"}[r.URL.Query().Get("done")]
	return s.renderAdminTopic(w, r, http.StatusOK, t, views.TopicForm{Slug: t.Slug, Name: t.Name, Description: t.Description, SelfSubscribe: t.SelfSubscribe}, flash)
}

func (s *Server) renderAdminTopic(w http.ResponseWriter, r *http.Request, status int, t store.Topic, f views.TopicForm, flash string, problem ...string) error {
	subs, err := s.App.TopicSubscribers(r.Context(), t)
	if err != nil {
		return err
	}
	link := s.Config.BaseURL.JoinPath("/t", t.Slug).String()
	qr, err := qrDataURL(link)
	if err != nil {
		return err
	}
	a := views.AdminTopic{Form: f, Link: link, QR: qr, Flash: flash}
	if len(problem) > 0 {
		a.Problem = problem[0]
	}
	a.Form.Slug = t.Slug
	for _, sub := range subs {
		a.Subscribers = append(a.Subscribers, views.Subscriber{Name: sub.Name, Bound: sub.Bound, Since: s.fmtTime(sub.Since)})
	}
	s.render(w, r, status, views.AdminTopicPage(s.page(r, "主题："+t.Name), a))
	return nil
}

func (s *Server) updateTopic(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	f, in := topicForm(r)
	t, err := s.App.UpdateTopic(r.Context(), service.UserActor(u), r.PathValue("slug"), in)
	if se := service.AsError(err); err != nil && se.Fields != nil && se.Code == service.EInvalid {
		f.Errors = se.Fields
		return s.renderAdminTopic(w, r, http.StatusUnprocessableEntity, t, f, "")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/topics/"+url.PathEscape(t.Slug)+"?done=saved", http.StatusSeeOther)
	return nil
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.DeleteTopic(r.Context(), service.UserActor(u), r.PathValue("slug")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/topics?done=deleted", http.StatusSeeOther)
	return nil
}

// topicSubscribers adds (action=add) or removes (action=remove) the user
// named in the form.
func (s *Server) topicSubscribers(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	slug := r.PathValue("slug")
	action := r.PostFormValue("action")
	if action != "add" && action != "remove" {
		return errorf(http.StatusBadRequest, "参数错误", "action 只能是 add 或 remove。")
	}
	t, _, _, err := s.App.SetSubscription(r.Context(), service.UserActor(u), slug, r.PostFormValue("user"), action == "add")
	if se := service.AsError(err); err != nil && se.Reason == "unknown_user" {
		t, err := s.App.Topic(r.Context(), slug)
		if err != nil {
			return err
		}
		f := views.TopicForm{Slug: t.Slug, Name: t.Name, Description: t.Description, SelfSubscribe: t.SelfSubscribe}
		return s.renderAdminTopic(w, r, http.StatusUnprocessableEntity, t, f, "", se.Message)
	}
	if err != nil {
		return err
	}
	done := map[string]string{"add": "added", "remove": "removed"}[action]
	http.Redirect(w, r, "/admin/topics/"+url.PathEscape(t.Slug)+"?done="+done, http.StatusSeeOther)
	return nil
}
