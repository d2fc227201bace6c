package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

type apiTopic struct {
	Slug          string `json:"slug"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	SelfSubscribe bool   `json:"self_subscribe"`
	Subscribers   int    `json:"subscribers"`
	Bound         int    `json:"bound_subscribers"`
}

// apiTopics lists the topics: GET /api/v1/topics.
func (s *Server) apiTopics(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	ts, err := s.App.Topics(r.Context())
	if err != nil {
		return err
	}
	out := make([]apiTopic, len(ts))
	for i, t := range ts {
		out[i] = apiTopic{Slug: t.Slug, Name: t.Name, Description: t.Description, SelfSubscribe: t.SelfSubscribe,
			Subscribers: t.Subscribers, Bound: t.Bound}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": out})
	return nil
}

// apiSubscribe adds a user to a topic: PUT
// /api/v1/topics/{slug}/subscribers/{user}. Idempotent: changed says
// whether anything changed.
func (s *Server) apiSubscribe(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	return s.apiSetSubscription(w, r, tok, true)
}

// apiUnsubscribe removes a user from a topic: DELETE
// /api/v1/topics/{slug}/subscribers/{user}.
func (s *Server) apiUnsubscribe(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	return s.apiSetSubscription(w, r, tok, false)
}

func (s *Server) apiSetSubscription(w http.ResponseWriter, r *http.Request, tok store.APIToken, on bool) error {
	t, u, changed, err := s.App.SetSubscription(r.Context(), service.APIActor(tok), r.PathValue("slug"), r.PathValue("user"), on)
	if se := service.AsError(err); err != nil && se.Code == service.ENotFound {
		msg := "no such topic: " + r.PathValue("slug")
		if se.Reason == "unknown_user" {
			msg = "no such user: " + r.PathValue("user")
		}
		return &Error{Status: http.StatusNotFound, Code: se.Reason, Message: msg}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": t.Slug, "user": u.Name, "subscribed": on, "changed": changed,
		"subscribers": t.Subscribers})
	return nil
}
