// Package static holds the embedded browser assets (vendored htmx, CSS,
// icons) and serves them with validators and cache headers.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed *.js *.css *.svg
var files embed.FS

// HTMXFile is the vendored htmx build (pinned; the version is in the name).
const HTMXFile = "htmx-2.0.11.min.js"

// Handler serves the embedded files under their bare names ("app.css").
// Each response carries a strong ETag from the content hash; a request whose
// query has the matching "v" parameter (as URL() builds) is cacheable forever.
type Handler struct {
	files map[string]asset
}

type asset struct {
	body  []byte
	etag  string
	ctype string
}

// New reads every embedded file once.
func New() *Handler {
	h := &Handler{files: map[string]asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.files[p] = asset{body: b, etag: hex.EncodeToString(sum[:8]), ctype: ct}
		return nil
	})
	if err != nil {
		panic(err) // embedded files: cannot fail
	}
	return h
}

// URL returns the path of a file with a content-hash query, for links in
// pages: "/static/app.css?v=1a2b…".
func (h *Handler) URL(name string) string {
	a, ok := h.files[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + a.etag
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	a, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	etag := `"` + a.etag + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.etag {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
