package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
)

// openAPI is the part of the document the test reads.
type openAPI struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Security    *[]map[string][]string `json:"security"`
		RequestBody *struct {
			Content map[string]struct {
				Examples map[string]struct {
					Value json.RawMessage `json:"value"`
				} `json:"examples"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
}

// TestOpenAPI_DocumentsExactlyTheRegisteredRoutes compares openapi.json
// with apiRoutes (what routes.go registers), then calls every documented
// operation on the real handler to see it is there.
func TestOpenAPI_DocumentsExactlyTheRegisteredRoutes(t *testing.T) {
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	checkRefs(t, openAPIDoc)

	var documented, registered []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if len(op.Responses) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
			public := op.Security != nil && len(*op.Security) == 0
			for _, rt := range apiRoutes {
				if rt.Method == strings.ToUpper(method) && rt.Pattern == path && rt.Public != public {
					t.Errorf("%s %s: documented public=%v, route public=%v", method, path, public, rt.Public)
				}
			}
			if _, ok := op.Responses["401"]; !public && !ok {
				t.Errorf("%s %s needs a token but documents no 401", method, path)
			}
		}
	}
	for _, rt := range apiRoutes {
		registered = append(registered, rt.Method+" "+rt.Pattern)
	}
	sort.Strings(documented)
	sort.Strings(registered)
	if strings.Join(documented, "\n") != strings.Join(registered, "\n") {
		t.Fatalf("openapi.json documents\n%s\nbut the API registers\n%s", strings.Join(documented, "\n"), strings.Join(registered, "\n"))
	}

	// Every documented operation answers on the real handler, with a token,
	// and is not the fallback's 404 / 405.
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base, _ := url.Parse("http://wxpush.test")
	s := New(Server{App: service.New(service.Deps{Store: st}, service.Config{BaseURL: base}), Store: st, Static: static.New(), Config: Config{BaseURL: base}})
	h := s.Handler()
	token, _, err := st.CreateAPIToken(ctx, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "api"},
		[]store.Recipient{{OpenID: "oTestOpenID0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			p := strings.ReplaceAll(path, "{id}", "1")
			if m.ID != 1 {
				t.Fatalf("message id %d", m.ID)
			}
			bodies := []string{""}
			if op.RequestBody != nil {
				bodies = nil
				for _, ex := range op.RequestBody.Content["application/json"].Examples {
					bodies = append(bodies, string(ex.Value))
				}
			}
			for _, body := range bodies {
				req := httptest.NewRequest(strings.ToUpper(method), p, strings.NewReader(body))
				req.Host = base.Host
				req.Header.Set("Authorization", "Bearer "+token)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				var e struct {
					Error struct{ Code, Message string }
				}
				json.Unmarshal(rec.Body.Bytes(), &e)
				if rec.Code == http.StatusMethodNotAllowed || strings.Contains(e.Error.Message, "没有这个接口") ||
					rec.Code == http.StatusUnauthorized || rec.Code >= 500 {
					t.Errorf("%s %s: %d %s", method, p, rec.Code, rec.Body)
				}
				if _, ok := op.Responses[strconv.Itoa(rec.Code)]; !ok {
					t.Errorf("%s %s answered %d, which openapi.json does not document\n%s", method, p, rec.Code, rec.Body)
				}
				if e.Error.Code == "invalid_request" {
					t.Errorf("%s %s: the documented example is refused as invalid: %s", method, p, rec.Body)
				}
			}
		}
	}
}

// checkRefs fails for every "$ref" that does not resolve in the document.
func checkRefs(t *testing.T, raw []byte) {
	t.Helper()
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); k == "$ref" && ok {
					if !resolves(root, ref) {
						t.Errorf("$ref %q does not resolve", ref)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
}

func resolves(root any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	cur := root
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
