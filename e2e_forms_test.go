package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestE2E_ReloadAfterFormsRepeatsNothing: generating a push URL and
// creating an API token land on GET pages (303) that show the secret once,
// with a 复制 button that copies it; reloading those pages shows the
// secret no more, makes no new key (the copied URL still works) and no
// second token.
func TestE2E_ReloadAfterFormsRepeatsNothing(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		return browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite,
			browser.PermissionTypeClipboardSanitizedWrite}).WithOrigin(base).Do(ctx)
	}))
	if err != nil {
		t.Fatal(err)
	}

	var pushURL, path, copied, clip string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#rotate-sendkey`, chromedp.ByQuery),
		chromedp.Click(`#rotate-sendkey`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sendkey-url`, chromedp.ByQuery),
		chromedp.Text(`#sendkey-url`, &pushURL, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname + location.search`, &path),
		chromedp.Click(`[data-copy="#sendkey-url"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#sendkey-url-copied').textContent !== ''`, nil),
		chromedp.Text(`#sendkey-url-copied`, &copied, chromedp.ByQuery),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &clip, awaitPromise),
	)
	if err != nil {
		t.Fatalf("generating the push URL: %v", err)
	}
	if !strings.Contains(pushURL, "/send/wxs_") || path != "/" {
		t.Fatalf("push URL %q shown at %q; want it on the account page, a GET of /", pushURL, path)
	}
	if !strings.Contains(copied, "已复制") || clip != pushURL {
		t.Errorf("复制 says %q and put %q on the clipboard; want the push URL", copied, clip)
	}

	var shown int
	err = chromedp.Run(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`#rotate-sendkey`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#sendkey-url').length`, &shown),
	)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if shown != 0 {
		t.Error("the reload shows the push URL again")
	}
	res, err := http.Get(pushURL + "?title=reload-test")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("the push URL copied before the reload answers %d; a reload must not replace it", res.StatusCode)
	}

	// An API token: the same.
	var token string
	var rows, tokenShown int
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/tokens"),
		chromedp.WaitVisible(`#token-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#token-name`, "CI", chromedp.ByQuery),
		chromedp.Click(`#create-token`, chromedp.ByQuery),
		chromedp.WaitVisible(`#new-token`, chromedp.ByQuery),
		chromedp.Text(`#new-token`, &token, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
		chromedp.Reload(),
		chromedp.WaitVisible(`#tokens`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#tokens tbody tr').length`, &rows),
		chromedp.Evaluate(`document.querySelectorAll('#new-token').length`, &tokenShown),
	)
	if err != nil {
		t.Fatalf("creating a token: %v", err)
	}
	if !strings.HasPrefix(token, "wxp_") || path != "/admin/tokens" {
		t.Fatalf("token %q shown at %q", token, path)
	}
	if rows != 1 || tokenShown != 0 {
		t.Errorf("after a reload: %d tokens listed, token shown %d times; want 1 and 0", rows, tokenShown)
	}
}

// awaitPromise makes chromedp.Evaluate wait for the promise the
// expression returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
