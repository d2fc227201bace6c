package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
)

// chromiumPath finds the browser for end-to-end tests. Under CI=true a
// missing browser fails the test: CI must really run it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found but CI=true: .ci/run must install Debian's chromium")
	}
	t.Skip("Chromium not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// newBrowser starts headless Chromium and returns a tab context that
// ends after 90 seconds.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, 90*time.Second)
}

// newBrowserFor is newBrowser for a test that needs longer than 90 s.
func newBrowserFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	skipUnderShort(t, "drives headless Chromium (seconds per test)")
	// Chromium's helper processes may still write to their profile for a
	// moment after the browser is closed, so t.TempDir's strict cleanup
	// would fail the test; remove the profile best-effort instead.
	profile, err := os.MkdirTemp("", "wxpush-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, limit)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	watchPage(t, ctx)
	return ctx
}

func signUpInBrowser(t *testing.T, ctx context.Context, base, name string) {
	t.Helper()
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible(`#signup-submit`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=name]`, name, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "password-"+name, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password2]`, "password-"+name, chromedp.ByQuery),
		chromedp.Click(`#signup-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bind-qr`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
}

// TestE2E_BindInSandboxPhoneSwapsLive is the walking skeleton end to end:
// sign up, open /bind, authorize in the sandbox phone in a second tab, and
// watch the first tab turn to success without reloading.
func TestE2E_BindInSandboxPhoneSwapsLive(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, map[string]string{"WX_BIND_MODE": "oauth"})
	signUpInBrowser(t, ctx, base, "alice")

	var qrLoaded bool
	var authURL string
	err := chromedp.Run(ctx,
		chromedp.Evaluate(`(() => { const i = document.querySelector('#bind-qr'); return i.complete && i.naturalWidth > 100 })()`, &qrLoaded),
		chromedp.AttributeValue(`#open-in-phone`, "href", &authURL, nil, chromedp.ByQuery),
		// A marker that a page reload would wipe out.
		chromedp.Evaluate(`window.__sameDocument = 'yes'`, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !qrLoaded {
		t.Fatal("the QR image did not load")
	}
	if !strings.Contains(authURL, "/sandbox/connect/oauth2/authorize?appid=") || !strings.HasSuffix(authURL, "#wechat_redirect") {
		t.Fatalf("QR URL %q", authURL)
	}

	// The phone: a second tab of the same browser.
	phone, cancel := newTab(t, ctx)
	defer cancel()
	var result string
	err = chromedp.Run(phone,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#new-nickname`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-nickname`, "张三", chromedp.ByQuery),
		chromedp.Click(`#choose`, chromedp.ByQuery),
		chromedp.WaitVisible(`#allow`, chromedp.ByQuery),
		chromedp.Click(`#allow`, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone-result`, chromedp.ByQuery),
		chromedp.Text(`#phone-result h1`, &result, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	if result != "绑定成功" {
		t.Fatalf("phone shows %q", result)
	}

	// The first tab swaps to success by itself (it polls every 2 s).
	var success, marker string
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#bind-success`, chromedp.ByQuery),
		chromedp.Text(`#bind-success`, &success, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument || 'reloaded'`, &marker),
	)
	if err != nil {
		t.Fatalf("waiting for the success fragment: %v", err)
	}
	if success != "绑定成功" || marker != "yes" {
		t.Fatalf("success %q, document %q: want 绑定成功 without a reload", success, marker)
	}
	// Polling stopped: no element polls any more.
	var pollers int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('[hx-trigger]').length`, &pollers)); err != nil {
		t.Fatal(err)
	}
	if pollers != 0 {
		t.Errorf("%d elements still poll after success", pollers)
	}

	var state, page string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#binding-state`, chromedp.ByQuery),
		chromedp.Text(`#binding-state`, &state, chromedp.ByQuery),
		chromedp.Text(`#binding`, &page, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if state != "已绑定" || !strings.Contains(page, "张三") {
		t.Fatalf("account page: state %q\n%s", state, page)
	}

	// Unbinding asks first (app.js's data-confirm: pages carry no inline
	// handlers). Cancelled, nothing happens (the button is still there to
	// click again); confirmed, the binding ends.
	var accept atomic.Bool
	dialogs := answerDialogs(ctx, &accept)
	if msg := clickAndAnswer(t, ctx, dialogs, `#unbind`); !strings.Contains(msg, "确定解除绑定") {
		t.Fatalf("confirm dialog says %q", msg)
	}
	accept.Store(true)
	if msg := clickAndAnswer(t, ctx, dialogs, `#unbind`); !strings.Contains(msg, "确定解除绑定") {
		t.Fatalf("confirm dialog says %q", msg)
	}
	err = chromedp.Run(ctx, chromedp.WaitVisible(`#binding-state.state-off`, chromedp.ByQuery))
	if err != nil {
		t.Fatalf("after confirming the unbind: %v", err)
	}
}

// bindInPhone completes the binding shown on the current /bind page as a
// new simulated WeChat user, in a second tab, and waits for the success.
func bindInPhone(t *testing.T, ctx context.Context, nickname string) {
	t.Helper()
	var authURL, mode string
	if err := chromedp.Run(ctx,
		chromedp.AttributeValue(`#open-in-phone`, "href", &authURL, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#bind-panel`, "data-mode", &mode, nil, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	phone, cancel := newTab(t, ctx)
	defer cancel()
	if mode == "scan" {
		scanAndFollow(t, phone, authURL, nickname)
		if err := chromedp.Run(ctx, chromedp.WaitVisible(`#bind-success`, chromedp.ByQuery)); err != nil {
			t.Fatalf("bind success: %v", err)
		}
		return
	}
	err := chromedp.Run(phone,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#new-nickname`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-nickname`, nickname, chromedp.ByQuery),
		chromedp.Click(`#choose`, chromedp.ByQuery),
		chromedp.WaitVisible(`#allow`, chromedp.ByQuery),
		chromedp.Click(`#allow`, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone-result`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	if err := chromedp.Run(ctx, chromedp.WaitVisible(`#bind-success`, chromedp.ByQuery)); err != nil {
		t.Fatalf("bind success: %v", err)
	}
}

// TestE2E_AdminBroadcastsTemplateAndWatchesProgress: the admin composes a
// template message to all bound users, the message page's progress reaches
// 100 % live, and the sandbox phone shows the card.
func TestE2E_AdminBroadcastsTemplateAndWatchesProgress(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")

	// Sync the templates, then slow the sandbox down so the progress is
	// seen moving.
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/templates"),
		chromedp.WaitVisible(`#sync-templates`, chromedp.ByQuery),
		chromedp.Click(`#sync-templates`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("syncing templates: %v", err)
	}
	// The sandbox page's fault form, posted directly (a click would race
	// with the next navigation).
	res, err := http.PostForm(base+"/sandbox/faults", url.Values{"latency_ms": {"3000"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/compose"),
		chromedp.WaitVisible(`#template-select`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("compose page: %v", err)
	}
	// Pick the free-text sample template (its one field is "content").
	var tid string
	err = chromedp.Run(ctx, chromedp.Evaluate(`(() => {
		for (const o of document.querySelectorAll('#template-select option')) {
			if (o.textContent.includes('测试')) return o.value;
		}
		return '';
	})()`, &tid))
	if err != nil || tid == "" {
		t.Fatalf("no test template in the compose form (%v)", err)
	}
	var preview string
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#template-select`, tid, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#template-select').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		chromedp.WaitVisible(`#field-content`, chromedp.ByQuery),
		chromedp.SendKeys(`#field-content`, "数据库备份完成", chromedp.ByQuery),
		chromedp.WaitVisible(`#preview-card`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#preview-card').textContent.includes('数据库备份完成')`, nil),
		chromedp.Text(`#preview-card`, &preview, chromedp.ByQuery),
		// 发送 is enabled once the live check has found nothing wrong.
		chromedp.Poll(`!document.querySelector('#send').disabled`, nil),
		chromedp.Click(`#send`, chromedp.ByQuery),
		chromedp.WaitVisible(`#progress-bar`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("composing: %v (preview %q)", err, preview)
	}
	var first, final, marker, done string
	err = chromedp.Run(ctx,
		chromedp.Text(`#progress-percent`, &first, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument = 'yes'`, nil),
		chromedp.WaitVisible(`#progress[data-done="true"]`, chromedp.ByQuery),
		chromedp.Text(`#progress-percent`, &final, chromedp.ByQuery),
		chromedp.AttributeValue(`#progress`, "data-done", &done, nil, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument || 'reloaded'`, &marker),
	)
	if err != nil {
		t.Fatalf("progress: %v", err)
	}
	if first == "100%" {
		t.Errorf("the message was already done when its page opened; the live update went unseen")
	}
	if final != "100%" || marker != "yes" {
		t.Fatalf("progress %q → %q, document %q: want 100%% reached without a reload", first, final, marker)
	}

	// The phone shows the card.
	var card string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/sandbox/phone"),
		chromedp.WaitVisible(`#users`, chromedp.ByQuery),
		chromedp.Click(`//a[contains(., '王小二')]`, chromedp.BySearch),
		chromedp.WaitVisible(`#messages .msg-template`, chromedp.ByQuery),
		chromedp.Text(`#messages .msg-template`, &card, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	if !strings.Contains(card, "数据库备份完成") {
		t.Fatalf("the phone's card says %q", card)
	}
}

// scanAndFollow plays a new WeChat user scanning a parameterized QR code in
// the sandbox phone and following the account; it returns the phone's chat.
func scanAndFollow(t *testing.T, phone context.Context, qrURL, nickname string) string {
	t.Helper()
	var chat string
	err := chromedp.Run(phone,
		chromedp.Navigate(qrURL),
		chromedp.WaitVisible(`#new-nickname`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-nickname`, nickname, chromedp.ByQuery),
		chromedp.Click(`#choose`, chromedp.ByQuery),
		chromedp.WaitVisible(`#qr-follow`, chromedp.ByQuery),
		chromedp.Click(`#qr-follow`, chromedp.ByQuery),
		chromedp.WaitVisible(`#messages`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#messages').textContent.includes('已绑定账号')`, nil),
		chromedp.Text(`#messages`, &chat, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("phone scan: %v", err)
	}
	return chat
}

// TestE2E_ScanFollowsAndBindsInOneStep: /bind shows a parameterized QR
// code; the sandbox phone scans it and follows; the page swaps to success
// live and the phone shows the welcome reply.
func TestE2E_ScanFollowsAndBindsInOneStep(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil) // WX_BIND_MODE=auto: the sandbox can make parameterized codes
	signUpInBrowser(t, ctx, base, "carol")
	var mode, qrURL string
	err := chromedp.Run(ctx,
		chromedp.AttributeValue(`#bind-panel`, "data-mode", &mode, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#open-in-phone`, "href", &qrURL, nil, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument = 'yes'`, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	if mode != "scan" || !strings.Contains(qrURL, "/sandbox/q/") {
		t.Fatalf("bind panel mode %q, QR %q: want a parameterized QR code", mode, qrURL)
	}
	phone, cancel := newTab(t, ctx)
	defer cancel()
	chat := scanAndFollow(t, phone, qrURL, "赵六")
	if !strings.Contains(chat, "已绑定账号「carol」") {
		t.Errorf("phone chat %q lacks the welcome reply", chat)
	}
	var marker string
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#bind-success`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument || 'reloaded'`, &marker),
	)
	if err != nil {
		t.Fatalf("waiting for success: %v", err)
	}
	if marker != "yes" {
		t.Error("the page reloaded")
	}
}

// TestE2E_ExpiredQROffersAFreshOne runs with a 2-second QR lifetime.
func TestE2E_ExpiredQROffersAFreshOne(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, map[string]string{"WXPUSH_BIND_TTL": "2s"})
	signUpInBrowser(t, ctx, base, "bob")

	var firstQR, secondQR, marker string
	err := chromedp.Run(ctx,
		chromedp.AttributeValue(`#bind-qr`, "src", &firstQR, nil, chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument = 'yes';
			document.body.addEventListener('htmx:afterSettle', () => {
				if (document.querySelector('#bind-expired')) window.__expiredSettled = true;
			});`, nil),
		chromedp.WaitVisible(`#bind-expired`, chromedp.ByQuery),
		// Click only once htmx has settled the swap: clicking the instant the
		// button appears can beat htmx to it, and the click does nothing.
		chromedp.Poll(`window.__expiredSettled === true`, nil),
		chromedp.Evaluate(`window.__sameDocument || 'reloaded'`, &marker),
		chromedp.Click(`#refresh-qr`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bind-qr`, chromedp.ByQuery),
		chromedp.AttributeValue(`#bind-qr`, "src", &secondQR, nil, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("expired QR path: %v", err)
	}
	if marker != "yes" {
		t.Error("the page reloaded to show the expired state")
	}
	if secondQR == "" || secondQR == firstQR {
		t.Error("refresh did not bring a new QR code")
	}
}

// TestE2E_ComposeFiltersRecipients: with many bound users the compose form
// filters its recipient list as the admin types, keeping what is ticked;
// ticking a user switches the form from everyone to the ticked users.
func TestE2E_ComposeFiltersRecipients(t *testing.T) {
	ctx := newBrowser(t)
	db := filepath.Join(t.TempDir(), "wxpush.db")
	base := startApp(t, map[string]string{"WXPUSH_DB": db})
	signUpInBrowser(t, ctx, base, "root")
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetBcryptCost(bcrypt.MinCost)
	for i, nick := range []string{"张三", "张伟", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑十一"} {
		u, err := st.CreateUser(context.Background(), fmt.Sprintf("user%02d", i), "pw-user-12345", false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := st.NewBindToken(context.Background(), u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteBinding(context.Background(), tok, store.Binding{OpenID: fmt.Sprintf("oUser%02d", i), Nickname: nick}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	visible := `[...document.querySelectorAll('.recipients label.check')].filter(l => l.offsetParent !== null).map(l => l.textContent.trim().split(/\s+/)[0]).join(',')`
	var all, zhang, none, again, ticked string
	var allBefore, usersAfter bool
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/compose"),
		chromedp.WaitVisible(`#recipient-filter`, chromedp.ByQuery),
		chromedp.Evaluate(visible, &all),
		chromedp.Evaluate(`document.querySelector('input[name=to][value=all]').checked`, &allBefore),
		chromedp.Click(`input[name=user][value]`, chromedp.ByQuery), // tick the first (user00, 张三)
		chromedp.Evaluate(`document.querySelector('#to-users').checked`, &usersAfter),
		chromedp.SendKeys(`#recipient-filter`, "张", chromedp.ByQuery),
		chromedp.Evaluate(visible, &zhang),
		chromedp.SendKeys(`#recipient-filter`, "不存在", chromedp.ByQuery),
		chromedp.Evaluate(visible, &none),
		chromedp.SetValue(`#recipient-filter`, "USER0", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#recipient-filter').dispatchEvent(new Event('input', {bubbles: true}))`, nil),
		chromedp.Evaluate(visible, &again),
		chromedp.Evaluate(`[...document.querySelectorAll('input[name=user]:checked')].map(i => i.parentElement.textContent.trim().split(/\s+/)[0]).join(',')`, &ticked),
	)
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	if !allBefore || !usersAfter {
		t.Errorf("to all before ticking: %v, to the ticked users after: %v; want both (ticking must not leave a broadcast selected)", allBefore, usersAfter)
	}
	if strings.Count(all, ",") != 9 {
		t.Errorf("before filtering: %q, want all 10", all)
	}
	if zhang != "user00,user01" {
		t.Errorf("filter 张: %q, want user00,user01", zhang)
	}
	if none != "" {
		t.Errorf("filter 张不存在: %q, want none", none)
	}
	if strings.Count(again, ",") != 9 {
		t.Errorf("filter USER0 (any case): %q, want all 10", again)
	}
	if ticked != "user00" {
		t.Errorf("ticked %q, want user00 kept through filtering", ticked)
	}
}

// TestE2E_MarkdownNotificationOpensInThePhone: the admin composes a
// Markdown notification (the preview shows the card and the rendered
// page), sends it, and the simulated phone — at a phone's 390 px — shows
// the card, whose 详情 opens the detail page inside the phone's browser:
// the whole content, rendered, with nothing wider than the screen but the
// code block and the table, which scroll by themselves.
func TestE2E_MarkdownNotificationOpensInThePhone(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/templates"),
		chromedp.WaitVisible(`#sync-templates`, chromedp.ByQuery),
		chromedp.Click(`#sync-templates`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("syncing templates: %v", err)
	}
	long := strings.Repeat("很长的一行日志没有空格", 12)
	content := "## 构建 #42 失败\n\n**main** 分支的测试没有通过。\n\n| 包 | 结果 | 耗时 |\n|---|---|---|\n| store | 失败 | 0.42s |\n| handlers | 通过 | 12.8s |\n\n" +
		"```\nFAIL github.com/wxpush/wxpush/store TestPrune " + strings.Repeat("x", 120) + "\n```\n\n" + long + "\n\n<script>document.title='pwned'</script>"
	var preview string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/compose"),
		chromedp.WaitVisible(`#kind-notification`, chromedp.ByQuery),
		chromedp.Click(`#kind-notification`, chromedp.ByQuery),
		chromedp.WaitVisible(`#note-title`, chromedp.ByQuery),
		chromedp.SendKeys(`#note-title`, "CI 构建失败", chromedp.ByQuery),
		chromedp.SetValue(`#note-content`, content, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#note-content').dispatchEvent(new Event('input', {bubbles: true}))`, nil),
		chromedp.Poll(`(() => { const p = document.querySelector('#preview-page'); return p && p.querySelector('table') && p.querySelector('strong') })()`, nil),
		chromedp.Text(`#preview`, &preview, chromedp.ByQuery),
		// 发送 is enabled once the live check has seen the title.
		chromedp.WaitEnabled(`#send`, chromedp.ByQuery),
		chromedp.Click(`#send`, chromedp.ByQuery),
		chromedp.WaitVisible(`#progress[data-done="true"]`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("composing: %v (preview %q)", err, preview)
	}
	if !strings.Contains(preview, "CI 构建失败") || !strings.Contains(preview, "构建 #42 失败 main 分支") {
		t.Errorf("preview %q: want the card's title and summary", preview)
	}

	// The phone, at 390 px.
	var card, cardLink string
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/sandbox/phone"),
		chromedp.WaitVisible(`#users`, chromedp.ByQuery),
		chromedp.Click(`//a[contains(., '王小二')]`, chromedp.BySearch),
		chromedp.WaitVisible(`#messages .msg-template a.more`, chromedp.ByQuery),
		chromedp.Text(`#messages .msg-template`, &card, chromedp.ByQuery),
		chromedp.AttributeValue(`#messages .msg-template a.more`, "data-url", &cardLink, nil, chromedp.ByQuery),
		chromedp.Click(`#messages .msg-template a.more`, chromedp.ByQuery),
		chromedp.WaitVisible(`#webview`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	if !strings.Contains(card, "CI 构建失败") || !strings.Contains(card, cardLink) || !strings.Contains(cardLink, "/m/") {
		t.Fatalf("card %q, link %q: want the title and the detail page's link", card, cardLink)
	}
	doc := `document.querySelector('#webview').contentDocument`
	var page struct {
		Title, Time, Text, DocTitle string
		Strong, Rows, Scripts       int
		FrameWidth, DocWidth        int
		PreScrolls, TableScrolls    bool
	}
	err = chromedp.Run(ctx,
		chromedp.Poll(doc+`.querySelector('#detail-content table') !== null`, nil),
		chromedp.Evaluate(`(() => {
			const d = `+doc+`, w = document.querySelector('#webview').contentWindow;
			const pre = d.querySelector('#detail-content pre'), table = d.querySelector('#detail-content table');
			return {
				Title: d.querySelector('#detail-title').textContent, Time: d.querySelector('#detail-time').textContent,
				Text: d.querySelector('#detail-content').textContent, DocTitle: d.title,
				Strong: d.querySelectorAll('#detail-content strong').length, Rows: table.querySelectorAll('tr').length,
				Scripts: d.querySelectorAll('#detail-content script').length,
				FrameWidth: w.innerWidth, DocWidth: d.documentElement.scrollWidth,
				PreScrolls: pre.scrollWidth > pre.clientWidth, TableScrolls: table.scrollWidth > table.clientWidth,
			};
		})()`, &page),
	)
	if err != nil {
		t.Fatalf("detail page in the phone: %v", err)
	}
	if page.Title != "CI 构建失败" || page.Time == "" || page.Strong != 1 || page.Rows != 3 || page.Scripts != 0 || page.DocTitle == "pwned" {
		t.Errorf("detail page %+v", page)
	}
	if !strings.Contains(page.Text, long) || !strings.Contains(page.Text, "FAIL github.com/wxpush/wxpush/store") {
		t.Errorf("the content did not arrive whole: %q", page.Text)
	}
	if page.FrameWidth > 390 || page.FrameWidth < 300 {
		t.Errorf("the phone's browser is %d px wide, want the 390 px screen", page.FrameWidth)
	}
	if page.DocWidth > page.FrameWidth {
		t.Errorf("the page is %d px wide in a %d px screen: it scrolls sideways", page.DocWidth, page.FrameWidth)
	}
	if !page.PreScrolls {
		t.Error("the long code line does not scroll inside its block")
	}
}

// TestE2E_PhoneTapsATopicLinkAndSubscribes: the admin makes a topic; the
// simulated user opens its link in the phone, where WeChat's silent web
// authorization names them, and subscribes with one tap; the account page
// then shows the subscription.
func TestE2E_PhoneTapsATopicLinkAndSubscribes(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/topics"),
		chromedp.WaitVisible(`#topic-slug`, chromedp.ByQuery),
		chromedp.SendKeys(`#topic-slug`, "ops", chromedp.ByQuery),
		chromedp.SendKeys(`#topic-name-input`, "运维告警", chromedp.ByQuery),
		chromedp.Click(`#create-topic`, chromedp.ByQuery),
		chromedp.WaitVisible(`#topic-link`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("creating the topic: %v", err)
	}
	// The phone has no session of the site: sign this browser out.
	if err := chromedp.Run(ctx, chromedp.Click(`#logout`, chromedp.ByQuery), chromedp.WaitVisible(`input[name=password]`, chromedp.ByQuery)); err != nil {
		t.Fatalf("logout: %v", err)
	}
	doc := `document.querySelector('#webview').contentDocument`
	var state, who string
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/sandbox/phone"),
		chromedp.WaitVisible(`#users`, chromedp.ByQuery),
		chromedp.Click(`//a[contains(., '王小二')]`, chromedp.BySearch),
		chromedp.WaitVisible(`#open-url`, chromedp.ByQuery),
		chromedp.SendKeys(`#open-url`, base+"/t/ops", chromedp.ByQuery),
		chromedp.Click(`#open-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#webview`, chromedp.ByQuery),
		chromedp.Poll(doc+`.querySelector('#topic-subscribe') !== null`, nil),
		chromedp.Evaluate(doc+`.querySelector('#topic-subscribe').click()`, nil),
		chromedp.Poll(doc+`.querySelector('#flash') !== null`, nil),
		chromedp.Evaluate(doc+`.querySelector('#topic-state').textContent`, &state),
		chromedp.Evaluate(doc+`.querySelector('#topic-user').textContent`, &who),
	)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	if state != "已订阅" || who != "账号：root" {
		t.Fatalf("topic state %q for %q after the tap: want root subscribed, identified by WeChat", state, who)
	}
	var topics string
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`input[name=password]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=name]`, "root", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "password-root", chromedp.ByQuery),
		chromedp.Submit(`input[name=password]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#binding-state`, chromedp.ByQuery),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#topics`, chromedp.ByQuery),
		chromedp.Text(`#topics`, &topics, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(topics, "运维告警") || !strings.Contains(topics, "退订") {
		t.Errorf("account page topics %q: want 运维告警 subscribed", topics)
	}
}
