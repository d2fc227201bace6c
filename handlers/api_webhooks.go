package handlers

import (
	"net/http"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// The webhook endpoints of the JSON API: /api/v1/webhooks.

type apiWebhookBody struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

type apiWebhook struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledAt     *string  `json:"disabled_at"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	Pending        int      `json:"pending"`
	CreatedAt      string   `json:"created_at"`
	Secret         string   `json:"secret,omitempty"` // only in the answer that made it
}

func (s *Server) toAPIWebhook(e store.WebhookEndpoint) apiWebhook {
	w := apiWebhook{ID: e.PublicID, URL: e.URL, Events: e.Events, Description: e.Description, Enabled: !e.Disabled(),
		DisabledReason: e.DisabledReason, Pending: e.Pending, CreatedAt: s.rfc3339(e.CreatedAt)}
	if w.Events == nil {
		w.Events = []string{}
	}
	if e.Disabled() {
		at := s.rfc3339(e.DisabledAt)
		w.DisabledAt = &at
	}
	return w
}

// apiCreateWebhook: POST /api/v1/webhooks. The answer carries the secret,
// this once.
func (s *Server) apiCreateWebhook(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	var body apiWebhookBody
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	secret, e, err := s.App.CreateWebhook(r.Context(), service.APIActor(tok),
		service.WebhookInput{URL: body.URL, Events: body.Events, Description: body.Description})
	if se := service.AsError(err); err != nil && se.Code == service.EInvalid {
		return badRequest(summarize(se.Fields), se.Fields)
	}
	if err != nil {
		return err
	}
	out := s.toAPIWebhook(e)
	out.Secret = secret
	w.Header().Set("Location", "/api/v1/webhooks/"+e.PublicID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// apiWebhooks: GET /api/v1/webhooks.
func (s *Server) apiWebhooks(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	es, err := s.Store.WebhookEndpoints(r.Context())
	if err != nil {
		return err
	}
	out := make([]apiWebhook, len(es))
	for i, e := range es {
		out[i] = s.toAPIWebhook(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

// apiWebhook: GET /api/v1/webhooks/{id}.
func (s *Server) apiWebhook(w http.ResponseWriter, r *http.Request, _ store.APIToken) error {
	e, err := s.App.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toAPIWebhook(e))
	return nil
}

// apiDeleteWebhook: DELETE /api/v1/webhooks/{id}.
func (s *Server) apiDeleteWebhook(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	if err := s.App.DeleteWebhook(r.Context(), service.APIActor(tok), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiRotateWebhookSecret: POST /api/v1/webhooks/{id}/secret with an
// optional {"grace_seconds": N} (default a day): a new secret, this once.
func (s *Server) apiRotateWebhookSecret(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	body := struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}{}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &body); err != nil {
			return err
		}
	}
	grace := 24 * time.Hour
	if body.GraceSeconds != nil {
		grace = time.Duration(*body.GraceSeconds) * time.Second
		if *body.GraceSeconds < 0 || *body.GraceSeconds > int64(service.MaxWebhookGrace/time.Second) {
			return badRequest("grace_seconds must be 0 to 604800", map[string]string{"grace_seconds": "过渡期应在 0 到 604800 秒（7 天）之间。"})
		}
	}
	secret, err := s.App.RotateWebhookSecret(r.Context(), service.APIActor(tok), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	out := map[string]any{"secret": secret, "old_secret_valid_until": nil}
	if grace > 0 {
		out["old_secret_valid_until"] = s.rfc3339(s.Now().Add(grace))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiTestWebhook: POST /api/v1/webhooks/{id}/test queues a webhook.test event.
func (s *Server) apiTestWebhook(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	id, err := s.App.SendTestEvent(r.Context(), service.APIActor(tok), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"event_id": id})
	return nil
}
