package sandbox

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets/*.css assets/*.js
var assetFiles embed.FS

// assets serves the sandbox pages' style and script (GET /assets/…). They
// are few and small; revalidating on each page load keeps an edited file
// from going stale.
func assets() http.Handler {
	sub, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
