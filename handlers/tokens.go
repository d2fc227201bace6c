package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// tokensPage lists the admin API tokens: GET /admin/tokens.
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	v := views.APITokens{}
	if r.URL.Query().Get("done") == "revoked" {
		v.Flash = "令牌已吊销，使用它的请求会被拒绝。"
	}
	return s.renderTokens(w, r, http.StatusOK, v)
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, v views.APITokens) error {
	ts, err := s.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		row := views.APITokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Creator: t.Creator,
			Created: fmtTime(t.CreatedAt), LastUsed: fmtTime(t.LastUsedAt), Revoked: fmtTime(t.RevokedAt), Scopes: t.Scopes}
		if row.Creator == "" {
			row.Creator = "—"
		}
		v.Tokens = append(v.Tokens, row)
	}
	v.BaseURL = strings.TrimSuffix(s.Config.BaseURL.String(), "/")
	if v.Scopes == nil {
		v.Scopes = scopeOptions(store.AllScopes)
	}
	// The page may carry a token shown this once: keep it out of caches.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.APITokensPage(s.page(r, "API 令牌"), v))
	return nil
}

// createToken makes a token and shows it, this once: POST /admin/tokens.
// The page is the POST's answer, not a redirect, so the token never
// appears in a URL.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PostFormValue("name")
	scopes := r.PostForm["scopes"]
	u, _ := userFrom(r.Context())
	token, t, err := s.App.CreateScopedAPIToken(r.Context(), service.UserActor(u), name, scopes)
	if e := service.AsError(err); err != nil && e.Code == service.EInvalid {
		return s.renderTokens(w, r, http.StatusUnprocessableEntity, views.APITokens{Name: strings.TrimSpace(name), Error: e.Message,
			Scopes: scopeOptions(scopes)})
	}
	if err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusOK, views.APITokens{NewToken: token, NewName: t.Name})
}

// scopeOptions are the create form's scope checkboxes, checked as given.
func scopeOptions(checked []string) []views.ScopeOption {
	out := make([]views.ScopeOption, len(store.AllScopes))
	for i, sc := range store.AllScopes {
		out[i] = views.ScopeOption{Scope: sc, Label: service.ScopeLabels[sc], Checked: slices.Contains(checked, sc)}
	}
	return out
}

// revokeToken: POST /admin/tokens/{id}/revoke.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.RevokeAPIToken(r.Context(), service.UserActor(u), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/tokens?done=revoked", http.StatusSeeOther)
	return nil
}
