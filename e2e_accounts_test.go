package main

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// httpUser is a second device: a plain HTTP client keeping its cookies.
type httpUser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newHTTPUser(t *testing.T, base string) *httpUser {
	jar, _ := cookiejar.New(nil)
	return &httpUser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post submits a form as a same-origin page does and returns the status.
func (u *httpUser) post(path string, form url.Values) int {
	u.t.Helper()
	req, _ := http.NewRequest("POST", u.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (u *httpUser) login(name, password string) int {
	return u.post("/login", url.Values{"name": {name}, "password": {password}})
}

// signedIn reports whether the account page answers (200) rather than
// sending to the login page.
func (u *httpUser) signedIn() bool {
	u.t.Helper()
	res, err := u.c.Get(u.base + "/")
	if err != nil {
		u.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// TestE2E_ChangePassword: signed in on a phone too, the user changes the
// password on the account page in Chromium. The page says so, the phone is
// signed out, the browser stays signed in, and the new password signs in
// through the login page.
func TestE2E_ChangePassword(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "erin")
	phone := newHTTPUser(t, base)
	if code := phone.login("erin", "password-erin"); code != http.StatusSeeOther || !phone.signedIn() {
		t.Fatalf("phone login: %d", code)
	}

	var hint, problem, flash string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#change-password`, chromedp.ByQuery),
		chromedp.Text(`#password-hint`, &hint, chromedp.ByQuery),
		// A wrong current password first: the form says why.
		chromedp.SendKeys(`#password input[name=current]`, "not-my-password", chromedp.ByQuery),
		chromedp.SendKeys(`#password input[name=password]`, "a-better-password", chromedp.ByQuery),
		chromedp.SendKeys(`#password input[name=password2]`, "a-better-password", chromedp.ByQuery),
		chromedp.Click(`#change-password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#password-error`, chromedp.ByQuery),
		chromedp.Text(`#password-error`, &problem, chromedp.ByQuery),
		chromedp.SendKeys(`#password input[name=current]`, "password-erin", chromedp.ByQuery),
		chromedp.SendKeys(`#password input[name=password]`, "a-better-password", chromedp.ByQuery),
		chromedp.SendKeys(`#password input[name=password2]`, "a-better-password", chromedp.ByQuery),
		chromedp.Click(`#change-password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
		chromedp.Text(`#flash`, &flash, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("change password: %v", err)
	}
	if !strings.Contains(hint, "至少 8 个字符") {
		t.Errorf("hint %q", hint)
	}
	if !strings.Contains(problem, "当前密码不正确") {
		t.Errorf("wrong current password: %q", problem)
	}
	if !strings.Contains(flash, "密码已修改") {
		t.Errorf("flash %q", flash)
	}
	if phone.signedIn() {
		t.Error("the phone is still signed in")
	}

	// The browser is still signed in; out and back in with the new password.
	var where string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#logout`, chromedp.ByQuery),
		chromedp.Click(`#logout`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-submit`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=name]`, "erin", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "a-better-password", chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sessions`, chromedp.ByQuery),
		chromedp.Location(&where),
	)
	if err != nil {
		t.Fatalf("sign in with the new password: %v", err)
	}
	if where != base+"/" {
		t.Errorf("after login: %s", where)
	}
	if old := newHTTPUser(t, base); old.login("erin", "password-erin") != http.StatusSeeOther || old.signedIn() {
		t.Error("the old password signs in")
	}
}

// TestE2E_AdminDisablesAUser: the admin opens a user from the dashboard,
// clicks 停用账号, confirms on the confirmation page (no JavaScript
// dialog), and the user's signed-in device is out and cannot sign in.
func TestE2E_AdminDisablesAUser(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root") // the first account: admin
	frank := newHTTPUser(t, base)
	if code := frank.post("/signup", url.Values{"name": {"frank"}, "password": {"password-frank"}, "password2": {"password-frank"}}); code != http.StatusSeeOther {
		t.Fatalf("frank's sign-up: %d", code)
	}

	var confirm, flash string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible(`#people`, chromedp.ByQuery),
		chromedp.Click(`//table[@id='people']//a[text()='frank']`, chromedp.BySearch),
		chromedp.WaitVisible(`#action-disable`, chromedp.ByQuery),
		chromedp.Click(`#action-disable`, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm-action`, chromedp.ByQuery),
		chromedp.Text(`#confirm`, &confirm, chromedp.ByQuery),
		chromedp.Click(`#confirm-action`, chromedp.ByQuery),
		chromedp.WaitVisible(`#user-disabled`, chromedp.ByQuery),
		chromedp.Text(`#flash`, &flash, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("disable through the pages: %v", err)
	}
	if !strings.Contains(confirm, "停用「frank」") {
		t.Errorf("confirmation page %q", confirm)
	}
	if !strings.Contains(flash, "账号已停用") {
		t.Errorf("flash %q", flash)
	}
	if frank.signedIn() {
		t.Error("frank is still signed in")
	}
	// A refused login goes back to the login form (303) and signs nobody in.
	if code := frank.login("frank", "password-frank"); code != http.StatusSeeOther || frank.signedIn() {
		t.Errorf("frank's login answers %d, or signed him in", code)
	}
}
