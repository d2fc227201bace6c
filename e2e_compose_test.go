package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2E_ComposeValidatesAsYouType: the compose form checks each field
// with the send's own rules as the admin types, names fields by their
// label, shows a field's problem only once it was touched, keeps 发送
// disabled while anything is wrong and says what; choosing 客服消息 says
// at once who the text reaches.
func TestE2E_ComposeValidatesAsYouType(t *testing.T) {
	ctx := newBrowserFor(t, 3*time.Minute)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")

	var tid string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/compose"),
		chromedp.WaitVisible(`#template-select`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#template-select option')].find(o => o.textContent.includes('服务状态通知')).value`, &tid),
	)
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#template-select`, tid, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#template-select').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		chromedp.WaitVisible(`#field-phrase2`, chromedp.ByQuery),
	)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = chromedp.Run(pctx, chromedp.Poll(`document.querySelector('#send-status').textContent.includes('「服务名称」')`, nil))
		cancel()
	}
	if err != nil {
		var status string
		chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#send-status').textContent + ' | ' + document.querySelector('#send').outerHTML + ' | ' + JSON.stringify([...new FormData(document.querySelector('#compose')).entries()])`, &status))
		t.Fatalf("choosing the template %q: %v (status and form: %s)", tid, err, status)
	}
	state := func() (disabled bool, status, phraseErr, phraseInvalid string, thingErrShown bool) {
		t.Helper()
		err := chromedp.Run(ctx,
			chromedp.Evaluate(`document.querySelector('#send').disabled`, &disabled),
			chromedp.Text(`#send-status`, &status, chromedp.ByQuery),
			chromedp.Evaluate(`(() => { const e = document.querySelector('#err-data-phrase2'); return getComputedStyle(e).display === 'none' ? '' : e.textContent })()`, &phraseErr),
			chromedp.Evaluate(`document.querySelector('#field-phrase2').getAttribute('aria-invalid') || ''`, &phraseInvalid),
			chromedp.Evaluate(`getComputedStyle(document.querySelector('#err-data-thing1')).display !== 'none'`, &thingErrShown),
		)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	disabled, status, phraseErr, _, thingShown := state()
	if !disabled || !strings.Contains(status, "请填写「服务名称」") || phraseErr != "" || thingShown {
		t.Errorf("before typing: 发送 disabled %v, status %q, errors shown for untouched fields (状态 %q, 服务名称 %v)", disabled, status, phraseErr, thingShown)
	}

	// 状态 (phrase2) takes Chinese only: the problem shows beside it, by label.
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#field-phrase2`, "abcdef", chromedp.ByQuery),
		chromedp.Poll(`(() => { const e = document.querySelector('#err-data-phrase2'); return getComputedStyle(e).display !== 'none' && e.textContent.startsWith('「状态」') })()`, nil),
	)
	if err != nil {
		t.Fatalf("typing a bad 状态: %v", err)
	}
	disabled, _, phraseErr, invalid, _ := state()
	if !disabled || !strings.HasPrefix(phraseErr, "「状态」") || strings.Contains(phraseErr, "phrase2") || invalid != "true" {
		t.Errorf("bad 状态: 发送 disabled %v, error %q (want it named 「状态」), aria-invalid %q", disabled, phraseErr, invalid)
	}

	// Put right, and the other fields filled: 发送 is enabled and sends.
	var path string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelector('#field-phrase2').value = ''`, nil),
		chromedp.SendKeys(`#field-phrase2`, "正常", chromedp.ByQuery),
		chromedp.SendKeys(`#field-thing1`, "数据库", chromedp.ByQuery),
		chromedp.SendKeys(`#field-time3`, "15:01", chromedp.ByQuery),
		chromedp.Poll(`!document.querySelector('#send').disabled`, nil),
		chromedp.Evaluate(`document.querySelector('#field-phrase2').getAttribute('aria-invalid') || ''`, &invalid),
		chromedp.Click(`#send`, chromedp.ByQuery),
		chromedp.WaitVisible(`#progress-bar`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatalf("filling the form in: %v", err)
	}
	if invalid != "" || !strings.HasPrefix(path, "/admin/messages/") {
		t.Errorf("after fixing: aria-invalid %q, sent to %q", invalid, path)
	}

	// 客服消息: who it reaches is said at once (the user just followed:
	// a one-minute window of 3 texts).
	var reach string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/compose"),
		chromedp.WaitVisible(`#kind-text`, chromedp.ByQuery),
		chromedp.Click(`#kind-text`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reach-now`, chromedp.ByQuery),
		chromedp.Text(`#reach-now`, &reach, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("choosing 客服消息: %v", err)
	}
	if !strings.Contains(reach, "1 位现在能收到客服消息") || !strings.Contains(reach, "还可 3 条") {
		t.Errorf("choosing 客服消息 says %q", reach)
	}
}
