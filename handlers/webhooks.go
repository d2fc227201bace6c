package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// The dashboard's webhook pages: /admin/webhooks and one page per endpoint
// with its delivery log.

// webhookLogLen is how many attempts an endpoint's page shows.
const webhookLogLen = 100

func eventOptions(checked []string) []views.EventOption {
	out := make([]views.EventOption, len(store.WebhookEventTypes))
	for i, t := range store.WebhookEventTypes {
		out[i] = views.EventOption{Type: t, Label: service.WebhookEventLabels[t], Checked: slices.Contains(checked, t)}
	}
	return out
}

func (s *Server) webhookRow(e store.WebhookEndpoint) views.WebhookRow {
	r := views.WebhookRow{ID: e.PublicID, URL: e.URL, Description: e.Description, Events: e.Events,
		Created: s.fmtTime(e.CreatedAt), Pending: e.Pending}
	if e.Disabled() {
		r.Disabled = s.fmtTime(e.DisabledAt)
		if e.DisabledReason != "" {
			r.Disabled += " · " + e.DisabledReason
		}
	}
	return r
}

// webhooksPage: GET /admin/webhooks.
func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) error {
	v := views.Webhooks{Form: views.WebhookForm{Events: eventOptions(nil)}}
	if r.URL.Query().Get("done") == "deleted" {
		v.Flash = "端点已删除。"
	}
	return s.renderWebhooks(w, r, http.StatusOK, v)
}

func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, v views.Webhooks) error {
	es, err := s.Store.WebhookEndpoints(r.Context())
	if err != nil {
		return err
	}
	for _, e := range es {
		v.Endpoints = append(v.Endpoints, s.webhookRow(e))
	}
	// The page may carry a secret shown this once: keep it out of caches.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.WebhooksPage(s.page(r, "Webhook"), v))
	return nil
}

// createWebhook: POST /admin/webhooks. The answer is the page with the
// secret, not a redirect, so that the secret never appears in a URL.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "参数错误", "表单无法解析。")
	}
	in := service.WebhookInput{URL: r.PostForm.Get("url"), Description: r.PostForm.Get("description"), Events: r.PostForm["events"]}
	u, _ := userFrom(r.Context())
	secret, e, err := s.App.CreateWebhook(r.Context(), service.UserActor(u), in)
	if se := service.AsError(err); err != nil && (se.Code == service.EInvalid || se.Code == service.EConflict) {
		return s.renderWebhooks(w, r, http.StatusUnprocessableEntity, views.Webhooks{Error: se.Message,
			Form: views.WebhookForm{URL: strings.TrimSpace(in.URL), Description: in.Description, Events: eventOptions(in.Events)}})
	}
	if err != nil {
		return err
	}
	return s.renderWebhooks(w, r, http.StatusOK, views.Webhooks{NewSecret: secret, NewID: e.PublicID,
		Flash: "端点已添加。", Form: views.WebhookForm{Events: eventOptions(nil)}})
}

var webhookFlashes = map[string]string{
	"test":     "测试事件已加入队列，稍后会出现在投递记录中。",
	"enabled":  "端点已启用，等待中的事件将按顺序继续发送。",
	"disabled": "端点已停用，不再接收新事件。",
}

// webhookPage: GET /admin/webhooks/{id}.
func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderWebhook(w, r, http.StatusOK, views.WebhookDetail{Flash: webhookFlashes[r.URL.Query().Get("done")]})
}

func (s *Server) renderWebhook(w http.ResponseWriter, r *http.Request, status int, v views.WebhookDetail) error {
	e, err := s.App.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Row = s.webhookRow(e)
	if !e.OldSecretUntil.IsZero() && e.OldSecretUntil.After(s.Now()) {
		v.OldSecret = s.fmtTime(e.OldSecretUntil)
	}
	as, err := s.Store.WebhookAttempts(r.Context(), e.ID, webhookLogLen)
	if err != nil {
		return err
	}
	for _, a := range as {
		v.Attempts = append(v.Attempts, s.attemptRow(a))
	}
	v.VerifyHelp = verifyShell
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.WebhookPage(s.page(r, "Webhook 端点"), v))
	return nil
}

// verifyShell is the signature check in shell, shown on the endpoint page.
const verifyShell = `# SIG: 收到的 Wxpush-Signature；body.json: 原始请求体
t=$(echo "$SIG" | tr ',' '\n' | sed -n 's/^t=//p')
want=$(printf '%s.' "$t" | cat - body.json | openssl dgst -sha256 -hmac "$WXPUSH_WEBHOOK_SECRET" | sed 's/^.* //')
echo "$SIG" | tr ',' '\n' | grep -qx "v1=$want" && [ $(( $(date +%s) - t )) -le 300 ] && [ $(( t - $(date +%s) )) -le 300 ] && echo 有效`

func (s *Server) attemptRow(a store.WebhookAttempt) views.WebhookAttemptRow {
	row := views.WebhookAttemptRow{At: s.fmtTime(a.At), EventType: a.EventType, EventID: a.EventID, Attempt: a.Attempt,
		Code: "—", Latency: fmt.Sprintf("%d ms", a.Latency.Milliseconds()), Error: a.Error}
	if a.StatusCode != 0 {
		row.Code = fmt.Sprint(a.StatusCode)
	}
	switch a.Outcome {
	case store.AttemptSucceeded:
		row.Status, row.StatusCSS = "成功", "badge-sent"
	case store.AttemptRetrying:
		row.Status, row.StatusCSS = "将重试", "badge-retrying"
	case store.AttemptDisabled:
		row.Status, row.StatusCSS = "端点已停用", "badge-failed"
	default:
		row.Status, row.StatusCSS = "已放弃", "badge-failed"
	}
	return row
}

// sendTestEvent: POST /admin/webhooks/{id}/test.
func (s *Server) sendTestEvent(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	id := r.PathValue("id")
	if _, err := s.App.SendTestEvent(r.Context(), service.UserActor(u), id); err != nil {
		if se := service.AsError(err); se.Code == service.EConflict {
			return s.renderWebhook(w, r, http.StatusConflict, views.WebhookDetail{Error: se.Message})
		}
		return err
	}
	http.Redirect(w, r, "/admin/webhooks/"+id+"?done=test", http.StatusSeeOther)
	return nil
}

// rotateWebhookSecret: POST /admin/webhooks/{id}/rotate; the answer shows
// the new secret, this once.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	grace, err := time.ParseDuration(r.PostFormValue("grace"))
	if err != nil {
		return errorf(http.StatusBadRequest, "参数错误", "过渡期无效。")
	}
	u, _ := userFrom(r.Context())
	secret, err := s.App.RotateWebhookSecret(r.Context(), service.UserActor(u), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	return s.renderWebhook(w, r, http.StatusOK, views.WebhookDetail{NewSecret: secret, Flash: "已生成新密钥。"})
}

// setWebhookEnabled: POST /admin/webhooks/{id}/enable and /disable.
func (s *Server) setWebhookEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, _ := userFrom(r.Context())
		id := r.PathValue("id")
		if err := s.App.SetWebhookEnabled(r.Context(), service.UserActor(u), id, enabled); err != nil {
			return err
		}
		http.Redirect(w, r, "/admin/webhooks/"+id+"?done="+map[bool]string{true: "enabled", false: "disabled"}[enabled], http.StatusSeeOther)
		return nil
	}
}

// deleteWebhook: POST /admin/webhooks/{id}/delete.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.DeleteWebhook(r.Context(), service.UserActor(u), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/webhooks?done=deleted", http.StatusSeeOther)
	return nil
}
