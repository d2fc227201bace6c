package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// maxTokenName bounds an API token's name, in characters.
const maxTokenName = 64

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
			Created: fmtTime(t.CreatedAt), LastUsed: fmtTime(t.LastUsedAt), Revoked: fmtTime(t.RevokedAt)}
		if row.Creator == "" {
			row.Creator = "—"
		}
		v.Tokens = append(v.Tokens, row)
	}
	v.BaseURL = strings.TrimSuffix(s.Config.BaseURL.String(), "/")
	// The page may carry a token shown this once: keep it out of caches.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.APITokensPage(s.page(r, "API 令牌"), v))
	return nil
}

// createToken makes a token and shows it, this once: POST /admin/tokens.
// The page is the POST's answer, not a redirect, so the token never
// appears in a URL.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	switch {
	case name == "":
		return s.renderTokens(w, r, http.StatusUnprocessableEntity, views.APITokens{Name: name, Error: "请填写令牌名称，例如它的用途：CI、监控告警。"})
	case utf8.RuneCountInString(name) > maxTokenName:
		return s.renderTokens(w, r, http.StatusUnprocessableEntity, views.APITokens{Name: name, Error: fmt.Sprintf("名称最多 %d 个字符。", maxTokenName)})
	}
	u, _ := userFrom(r.Context())
	token, t, err := s.Store.CreateAPIToken(r.Context(), name, u.ID)
	if err != nil {
		return err
	}
	s.audit(r, "token.create", fmt.Sprintf("API 令牌「%s」", t.Name), t.Prefix+"…")
	s.logger(r.Context()).Info("api token created", "token", t.ID, "by", u.PublicID)
	return s.renderTokens(w, r, http.StatusOK, views.APITokens{NewToken: token, NewName: t.Name})
}

// revokeToken: POST /admin/tokens/{id}/revoke.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	notFound := errorf(http.StatusNotFound, "令牌不存在", "没有这个 API 令牌。")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notFound
	}
	t, err := s.Store.APIToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	if !t.Revoked() {
		if err := s.Store.RevokeAPIToken(r.Context(), id); err != nil {
			return err
		}
		u, _ := userFrom(r.Context())
		s.audit(r, "token.revoke", fmt.Sprintf("API 令牌「%s」", t.Name), t.Prefix+"…")
		s.logger(r.Context()).Info("api token revoked", "token", t.ID, "by", u.PublicID)
	}
	http.Redirect(w, r, "/admin/tokens?done=revoked", http.StatusSeeOther)
	return nil
}
