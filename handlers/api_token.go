package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/store"
)

// apiTokenInfo tells a program about the token it calls with, scopes
// included: GET /api/v1/token.
func (s *Server) apiTokenInfo(w http.ResponseWriter, r *http.Request, tok store.APIToken) error {
	scopes := tok.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": tok.Name, "prefix": tok.Prefix, "scopes": scopes, "created_at": s.rfc3339(tok.CreatedAt),
	})
	return nil
}
