package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// tokensPage lists the admin API tokens: GET /admin/tokens. A token made
// just now comes in the flash and is shown this once; so does a refused
// name.
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	f := flashFrom(r)
	v := views.APITokens{NewToken: f.Secret, NewName: f.SecretName}
	if f.Form != nil {
		v.Name, v.Error = f.Form.Value("name"), f.Form.Error
		v.Scopes = scopeOptions(f.Form.Values["scopes"])
	}
	ts, err := s.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		row := views.APITokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Creator: t.Creator,
			Created: s.fmtTime(t.CreatedAt), LastUsed: s.fmtTime(t.LastUsedAt), Revoked: s.fmtTime(t.RevokedAt), Scopes: t.Scopes}
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
	s.render(w, r, http.StatusOK, views.APITokensPage(s.page(r, "API 令牌"), v))
	return nil
}

// createToken makes a token: POST /admin/tokens. The tokens page shows it
// this once, through the flash: never in a URL, and a reload makes no
// second token.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PostFormValue("name")
	scopes := r.PostForm["scopes"]
	u, _ := userFrom(r.Context())
	token, t, err := s.App.CreateScopedAPIToken(r.Context(), service.UserActor(u), name, scopes)
	if e := service.AsError(err); err != nil && e.Code == service.EInvalid {
		// The refused form comes back with its name and the scopes as ticked.
		s.redirectFlash(w, r, "/admin/tokens", Flash{Form: &FormFlash{
			Values: url.Values{"name": {strings.TrimSpace(name)}, "scopes": scopes}, Error: e.Message}})
		return nil
	}
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin/tokens#new-token-card", Flash{Notice: "已创建令牌「" + t.Name + "」。", Secret: token, SecretName: t.Name})
	return nil
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
	s.redirectFlash(w, r, "/admin/tokens", Flash{Notice: "令牌已吊销，使用它的请求会被拒绝。"})
	return nil
}
