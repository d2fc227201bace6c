package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxpush/wxpush/webhooks"
)

// An admin adds a webhook endpoint in the browser, copies the secret shown
// once, sends a test event with the button, and the site's receiver gets
// it signed with that secret; the delivery log shows it.
func TestE2E_AdminAddsAWebhookAndSendsATestEvent(t *testing.T) {
	type hit struct {
		sig  string
		body []byte
	}
	got := make(chan hit, 4)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- hit{r.Header.Get(webhooks.HeaderSignature), b}
	}))
	defer site.Close()
	base := startApp(t, nil)
	ctx := newBrowser(t)
	signUpInBrowser(t, ctx, base, "root")
	var secret, log string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/webhooks"),
		chromedp.WaitVisible(`#create-webhook`, chromedp.ByQuery),
		chromedp.SendKeys(`#webhook-url`, site.URL+"/hook", chromedp.ByQuery),
		chromedp.Click(`input[value="user.message"]`, chromedp.ByQuery),
		chromedp.Click(`#create-webhook`, chromedp.ByQuery),
		chromedp.WaitVisible(`#new-secret`, chromedp.ByQuery),
		chromedp.Text(`#new-secret`, &secret, chromedp.ByQuery),
		chromedp.Click(`#webhooks a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#send-test`, chromedp.ByQuery),
		chromedp.Click(`#send-test`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var h hit
	select {
	case h = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the test event did not arrive")
	}
	if err := webhooks.Verify(h.sig, h.body, strings.TrimSpace(secret), webhooks.DefaultTolerance, time.Now()); err != nil {
		t.Fatalf("signature with the secret the page showed: %v", err)
	}
	if !strings.Contains(string(h.body), `"type":"webhook.test"`) {
		t.Fatalf("body %s", h.body)
	}
	// The log shows the attempt once it is recorded.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log, "成功"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("delivery log: %q", log)
		}
		if err := chromedp.Run(ctx, chromedp.Reload(), chromedp.WaitVisible(`#send-test`, chromedp.ByQuery), chromedp.Text(`body`, &log, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
	}
}
