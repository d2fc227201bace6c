package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
)

// TestAPIScopes_EveryRouteIsEnforced walks the whole route table: every
// route is public, needs exactly one scope, or takes any token; a token
// lacking the scope gets 403 insufficient_scope and changes nothing; a
// token with only that scope gets past the check.
func TestAPIScopes_EveryRouteIsEnforced(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base, _ := url.Parse("http://wxpush.test")
	h := New(Server{App: service.New(service.Deps{Store: st}, service.Config{BaseURL: base}), Store: st,
		Static: static.New(), Config: Config{BaseURL: base}}).Handler()

	// A token for every proper subset of the scopes.
	tokens := map[string]string{} // scopes joined by space → token
	for _, set := range [][]string{
		{store.ScopeSend}, {store.ScopeRead}, {store.ScopeManage},
		{store.ScopeSend, store.ScopeRead}, {store.ScopeSend, store.ScopeManage}, {store.ScopeRead, store.ScopeManage},
	} {
		tok, _, err := st.CreateScopedAPIToken(ctx, strings.Join(set, "+"), 0, set)
		if err != nil {
			t.Fatal(err)
		}
		tokens[strings.Join(set, " ")] = tok
	}
	call := func(rt apiRoute, token string) (int, string, http.Header) {
		path := strings.ReplaceAll(rt.Pattern, "{id}", "1")
		body := ""
		if rt.Method == http.MethodPost {
			body = `{}`
		}
		req := httptest.NewRequest(rt.Method, path, strings.NewReader(body))
		req.Host = base.Host // the host check answers other hosts 421
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e struct{ Error struct{ Code string } }
		json.Unmarshal(rec.Body.Bytes(), &e)
		return rec.Code, e.Error.Code, rec.Header()
	}
	for _, rt := range apiRoutes {
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			switch {
			case rt.Public:
				if rt.Scope != "" || rt.AnyScope {
					t.Fatal("a public route names a scope")
				}
				return
			case rt.AnyScope == (rt.Scope != ""):
				t.Fatalf("route must name exactly one scope or be AnyScope (Scope %q, AnyScope %v)", rt.Scope, rt.AnyScope)
			case rt.Scope != "" && !slices.Contains(store.AllScopes, rt.Scope):
				t.Fatalf("unknown scope %q", rt.Scope)
			}
			for held, tok := range tokens {
				has := rt.AnyScope || slices.Contains(strings.Fields(held), rt.Scope)
				status, code, hdr := call(rt, tok)
				if hdr.Get("Wxpush-Token-Scopes") != held {
					t.Errorf("token with %q: Wxpush-Token-Scopes %q", held, hdr.Get("Wxpush-Token-Scopes"))
				}
				if has && (status == http.StatusForbidden || status == http.StatusUnauthorized) {
					t.Errorf("token with %q: %d %s, want past the scope check", held, status, code)
				}
				if !has && (status != http.StatusForbidden || code != "insufficient_scope") {
					t.Errorf("token with %q (needs %s): %d %s, want 403 insufficient_scope", held, rt.Scope, status, code)
				}
			}
		})
	}
	// Refused calls changed nothing: no message queued, no endpoint made.
	if ms, _ := st.Messages(ctx, 10, 0); len(ms) != 0 {
		t.Errorf("%d messages queued", len(ms))
	}
	if es, _ := st.WebhookEndpoints(ctx); len(es) != 0 {
		t.Errorf("%d webhook endpoints", len(es))
	}
}
