package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The vectors are from docs/wechat.md §8 (token 789 is the test app's).
func TestVerifyServerURL(t *testing.T) {
	app := newTestApp(t)
	app.Clock.Set(time.Unix(456, 0)) // the vectors' timestamp
	b := app.browser(t)
	tests := []struct {
		name, sig, ts, nonce string
		status               int
	}{
		{"published vector", "f7c3bc1d808e04732adf679965ccc34ca7ae3441", "456", "123", 200},
		{"wrong signature", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a", "456", "123", 403},
		{"tampered nonce", "f7c3bc1d808e04732adf679965ccc34ca7ae3441", "456", "124", 403},
		{"missing signature", "", "456", "123", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"signature": {tt.sig}, "timestamp": {tt.ts}, "nonce": {tt.nonce}, "echostr": {"4375120948345356249"}}
			r := b.get("/wechat?" + q.Encode())
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			if tt.status == 200 && r.Body != "4375120948345356249" {
				t.Errorf("body %q, want the echostr exactly", r.Body)
			}
			if tt.status != 200 && r.Body == "4375120948345356249\n" {
				t.Error("echoed on a bad signature")
			}
		})
	}
	if r := b.get("/wechat?" + url.Values{"signature": {"x"}}.Encode()); r.Status != http.StatusForbidden {
		t.Errorf("no timestamp/nonce: %d", r.Status)
	}
}

func TestVerifyServerURL_SpamtestVector(t *testing.T) {
	app := newTestApp(t, func(c *testConfig) { c.WXToken = "spamtest" })
	app.Clock.Set(time.Unix(1409735669, 0))
	q := url.Values{"signature": {"16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"}, "timestamp": {"1409735669"}, "nonce": {"1320562132"}, "echostr": {"hello"}}
	if r := app.browser(t).get("/wechat?" + q.Encode()); r.Status != 200 || r.Body != "hello" {
		t.Fatalf("status %d body %q", r.Status, r.Body)
	}
}
