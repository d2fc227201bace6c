package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A personal push URL is a credential: no request for it, refused or not,
// may write the key to the log.
func TestLog_NeverHoldsAPushKey(t *testing.T) {
	app := newTestApp(t)
	b := app.browser(t)
	b.signup("alice")
	pushURL := b.sendKey()
	u, err := url.Parse(pushURL)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(u.Path, "/send/")
	script := app.browser(t)
	tests := []struct {
		name   string
		do     func() resp
		status int
	}{
		{"cross-site POST", func() resp {
			return script.post("/send/"+key, url.Values{"title": {"x"}}, "Sec-Fetch-Site", "cross-site")
		}, http.StatusForbidden},
		{"foreign Origin POST", func() resp {
			return script.post("/send/"+key, url.Values{"title": {"x"}}, "Sec-Fetch-Site", "", "Origin", "https://evil.example")
		}, http.StatusForbidden},
		{"unclean path", func() resp { return script.get("//send/" + key) }, http.StatusTemporaryRedirect},
		{"dot segments", func() resp { return script.get("/x/../send/" + key) }, http.StatusTemporaryRedirect},
		{"wrong case", func() resp { return script.get("/SEND/" + key) }, http.StatusNotFound},
		{"wrong method", func() resp {
			req, _ := http.NewRequest(http.MethodPut, app.URL+"/send/"+key, nil)
			return script.do(req)
		}, http.StatusNotFound},
		{"push without content", func() resp { return script.get("/send/" + key) }, http.StatusBadRequest},
		{"unknown key", func() resp { return script.get("/send/" + otherKey(key) + "?title=t") }, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(app.Logs.String())
			r := tt.do()
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.Status, tt.status, r.Body)
			}
			logged := app.Logs.String()[before:]
			if !strings.Contains(logged, "/send/{key}") {
				t.Errorf("the request was not logged with its masked path:\n%s", logged)
			}
			if strings.Contains(logged, key) || strings.Contains(logged, key[:len(key)-1]) {
				t.Errorf("the log holds the push key:\n%s", logged)
			}
		})
	}
}

// otherKey is key with its last character changed: a key that does not
// exist (a fixed replacement letter would be the key itself 1 time in 62).
func otherKey(key string) string {
	last := byte('x')
	if key[len(key)-1] == last {
		last = 'y'
	}
	return key[:len(key)-1] + string(last)
}
