package main

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestE2E_LogOutOtherSessions: signed in on a phone too, the user sees both
// sessions on the account page and clicks 退出其他设备; the phone's cookie
// stops working, the browser stays signed in.
func TestE2E_LogOutOtherSessions(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "dora")

	// The other device: a phone's WeChat browser signing in.
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	phoneGet := func() int {
		t.Helper()
		res, err := phone.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	form := url.Values{"name": {"dora"}, "password": {"password-dora"}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40")
	res, err := phone.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || phoneGet() != http.StatusOK {
		t.Fatalf("phone login: %d", res.StatusCode)
	}

	var list, flash string
	var rows int
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#end-other-sessions`, chromedp.ByQuery),
		chromedp.Text(`#session-list`, &list, chromedp.ByQuery),
		chromedp.Click(`#end-other-sessions`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
		chromedp.Text(`#flash`, &flash, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#session-list tbody tr').length`, &rows),
	)
	if err != nil {
		t.Fatalf("account page: %v", err)
	}
	if !strings.Contains(list, "微信 · iPhone") || !strings.Contains(list, "当前设备") || !strings.Contains(list, "Chrome") {
		t.Errorf("session list before: %q", list)
	}
	if !strings.Contains(flash, "已退出其他所有设备") || rows != 1 {
		t.Errorf("after 退出其他设备: flash %q, %d sessions listed", flash, rows)
	}
	if code := phoneGet(); code != http.StatusSeeOther {
		t.Errorf("the phone's session still answers %d", code)
	}
}
