package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestE2E_FirstRunOpensOnSignup: a fresh install has nobody who could sign
// in, so its first page is the sign-up form, which says the first account
// becomes the admin and states the password rule before anything is typed.
// Once an account exists, signed-out visitors land on 登录 again and the
// sign-up form no longer promises admin rights.
func TestE2E_FirstRunOpensOnSignup(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)

	var path, note, rule string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#signup-submit`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
		chromedp.Text(`#first-admin`, &note, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.Text(`#password-hint`, &rule, chromedp.ByQuery, chromedp.NodeVisible),
	)
	if err != nil {
		t.Fatalf("first visit: %v", err)
	}
	if path != "/signup" || !strings.Contains(note, "第一个注册的账号将成为管理员") {
		t.Fatalf("a fresh install opened on %s saying %q; want /signup saying 第一个注册的账号将成为管理员", path, note)
	}
	if !strings.Contains(rule, "至少 8 个字符") {
		t.Errorf("password rule up front: %q", rule)
	}

	signUpInBrowser(t, ctx, base, "root")

	// The sandbox's two phone links say what each does.
	var openQR, banner string
	err = chromedp.Run(ctx,
		chromedp.Text(`#open-in-phone`, &openQR, chromedp.ByQuery),
		chromedp.Text(`#banner-phones`, &banner, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(openQR) != "用模拟手机扫这个二维码" || strings.TrimSpace(banner) != "查看模拟手机收到的消息" {
		t.Errorf("bind page button %q, banner link %q: want them named by what they do", openQR, banner)
	}

	var firstAdminAfter int
	err = chromedp.Run(ctx,
		chromedp.Click(`#logout`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-submit`, chromedp.ByQuery),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#login-submit`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible(`#signup-submit`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#first-admin').length`, &firstAdminAfter),
	)
	if err != nil {
		t.Fatalf("after the first account: %v", err)
	}
	if path != "/login" {
		t.Errorf("with an account, signed-out / opened on %s, want /login", path)
	}
	if firstAdminAfter != 0 {
		t.Error("the sign-up form still promises admin rights after the first account")
	}
}
