package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
)

// screenshotDir is where the page walk saves its screenshots:
// $WXPUSH_SCREENSHOTS, or test-screenshots/ in the module (git-ignored).
// .ci/run keeps the folder for people to look at.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WXPUSH_SCREENSHOTS")
	if dir == "" {
		dir = "test-screenshots"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// pageCheck is what the walk measures on each page, in the page.
const pageCheck = `(() => {
	const vw = document.documentElement.clientWidth;
	const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
		h1: document.querySelectorAll('h1').length, wide: [], small: []};
	const visible = el => {
		const r = el.getBoundingClientRect(), s = getComputedStyle(el);
		return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
	};
	const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
		(el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
	// What sticks out of the viewport, innermost first: the culprits.
	for (const el of document.body.querySelectorAll('*')) {
		if (!visible(el)) continue;
		const r = el.getBoundingClientRect();
		if (r.right > vw + 1 && ![...el.children].some(c => c.getBoundingClientRect().right > vw + 1)) {
			// Inside a box that scrolls by itself, it is fine.
			let p = el.parentElement, boxed = false;
			for (; p && p !== document.body; p = p.parentElement) {
				const ox = getComputedStyle(p).overflowX;
				if ((ox === 'auto' || ox === 'scroll' || ox === 'hidden') && p.getBoundingClientRect().right <= vw + 1) { boxed = true; break; }
			}
			if (!boxed) out.wide.push(name(el) + ' right=' + Math.round(r.right));
		}
	}
	// Tap targets: controls, and links that are not words inside a sentence.
	const targets = document.querySelectorAll('button, .button, input:not([type=hidden]), select, textarea, summary, nav a, td a, .tabs a, .pager a, .list a, .bar a, label.check, label.radio, main > p > a:only-child');
	for (const el of targets) {
		if (!visible(el)) continue;
		let r = el.getBoundingClientRect();
		// A checkbox or radio button is tapped through its label.
		if (el.matches('input[type=checkbox], input[type=radio]') && el.closest('label')) r = el.closest('label').getBoundingClientRect();
		if (r.height < 40 || r.width < 40) out.small.push(name(el) + ' ' + Math.round(r.width) + '×' + Math.round(r.height) + ' "' + (el.textContent || el.value || '').trim().slice(0, 20) + '"');
	}
	return out;
})()`

type pageMeasure struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	H1          int      `json:"h1"`
	Wide        []string `json:"wide"`
	Small       []string `json:"small"`
}

// fetchPost posts a form from the page, as its own forms do (same origin,
// with the session), and returns where it led. It does not load that page
// (which would take the flash the POST left for it) unless follow.
func fetchPost(ctx context.Context, path string, form map[string]string, follow bool) (string, error) {
	var to string
	redirect := "manual"
	if follow {
		redirect = "follow"
	}
	js := fmt.Sprintf(`fetch(%q, {method: 'POST', redirect: %q, body: new URLSearchParams(%s)}).then(r => new URL(r.url).pathname)`,
		path, redirect, jsonObject(form))
	err := chromedp.Run(ctx, chromedp.Evaluate(js, &to, awaitPromise))
	return to, err
}

func jsonObject(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%q: %q", k, v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestE2E_EveryPageFitsAPhone walks every page of the site and of the
// sandbox at 390 px (a phone) and 1280 px (a desktop): at 390 px no page
// scrolls sideways (wide tables scroll inside their own box) and tap
// targets are at least 40 px; each page has one h1. Each page is saved as
// a screenshot at both widths (screenshotDir).
func TestE2E_EveryPageFitsAPhone(t *testing.T) {
	ctx := newBrowserFor(t, 5*time.Minute) // 22 pages, twice
	db := filepath.Join(t.TempDir(), "wxpush.db")
	base := startApp(t, map[string]string{"WXPUSH_DB": db})
	dir := screenshotDir(t)
	t.Logf("screenshots: %s", dir)

	signUpInBrowser(t, ctx, base, "root")
	var bindWaiting string
	if err := chromedp.Run(ctx, chromedp.Location(&bindWaiting)); err != nil {
		t.Fatal(err)
	}
	bindInPhone(t, ctx, "王小二")

	// More users, straight into the database: bound with long names, and
	// one who never bound.
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetBcryptCost(bcrypt.MinCost)
	for i, nick := range []string{"一个名字非常非常长的微信用户昵称", "李四"} {
		u, err := st.CreateUser(context.Background(), fmt.Sprintf("user_with_a_long_name_%d", i), "pw-user-12345", false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := st.NewBindToken(context.Background(), u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteBinding(context.Background(), tok, store.Binding{OpenID: fmt.Sprintf("oUnknownToWeChat%02d", i), Nickname: nick}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateUser(context.Background(), "never_bound", "pw-user-12345", false, false); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// A message with failed rows (the two made-up openids are unknown to
	// WeChat), a push URL and an API token shown once.
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	msgPath, err := fetchPost(ctx, "/admin/compose", map[string]string{"kind": "text", "to": "all", "text": "服务器将于今晚 22:00 维护，预计 30 分钟。"}, true)
	if err != nil || !strings.HasPrefix(msgPath, "/admin/messages/") {
		t.Fatalf("send: %q %v", msgPath, err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(base+msgPath), chromedp.WaitVisible(`#progress[data-done="true"]`, chromedp.ByQuery)); err != nil {
		t.Fatalf("waiting for the message: %v", err)
	}
	var scanURL string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/bind"),
		chromedp.WaitVisible(`#rebind`, chromedp.ByQuery),
		chromedp.Click(`#rebind`, chromedp.ByQuery),
		chromedp.WaitVisible(`#open-in-phone`, chromedp.ByQuery),
		chromedp.AttributeValue(`#open-in-phone`, "href", &scanURL, nil, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("a second binding QR: %v", err)
	}
	phoneOpenID := regexp.MustCompile(`data-openid="([^"]+)"`)
	var usersHTML string
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/sandbox/phone"), chromedp.OuterHTML(`#users`, &usersHTML, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	openid := phoneOpenID.FindStringSubmatch(usersHTML)
	if openid == nil {
		t.Fatalf("no phone listed:\n%s", usersHTML)
	}

	type page struct {
		name, path string
		prepare    func() error // run before loading, e.g. to put a secret in the flash
		ready      string       // selector to wait for
	}
	post := func(path string, form map[string]string) func() error {
		return func() error { _, err := fetchPost(ctx, path, form, false); return err }
	}
	pages := []page{
		{name: "account", path: "/", ready: "#binding"},
		{name: "account-new-push-url", path: "/", prepare: post("/sendkey/rotate", nil), ready: "#sendkey-url"},
		{name: "bind-waiting", path: strings.TrimPrefix(bindWaiting, base), ready: "#bind-panel"},
		{name: "bind-current", path: "/bind", ready: "#bind-panel"},
		{name: "admin-dashboard", path: "/admin", ready: "#people"},
		{name: "admin-compose", path: "/admin/compose", ready: "#compose"},
		{name: "admin-compose-text", path: "/admin/compose?kind=text", ready: "#compose"},
		{name: "admin-messages", path: "/admin/messages", ready: "#messages"},
		{name: "admin-message", path: msgPath, ready: "#deliveries"},
		{name: "admin-templates", path: "/admin/templates", ready: "#sync-templates"},
		{name: "admin-tokens-new", path: "/admin/tokens", prepare: post("/admin/tokens", map[string]string{"name": "CI 部署", "scopes": "send"}), ready: "#new-token"},
		{name: "admin-tokens", path: "/admin/tokens", ready: "#tokens"},
		{name: "not-found", path: "/no-such-page", ready: "h1"},
		{name: "phone-result-error", path: "/wechat/oauth/callback?state=nope&code=x", ready: "#phone-result"},
		{name: "sandbox-console", path: "/sandbox/", ready: "#faults-form"},
		{name: "sandbox-phones", path: "/sandbox/phone", ready: "#users"},
		{name: "sandbox-phone", path: "/sandbox/phone/" + openid[1], ready: "#messages"},
		{name: "sandbox-scan-chooser", path: strings.TrimPrefix(scanURL, base), ready: "#choose"},
		{name: "sandbox-oauth-error", path: "/sandbox/connect/oauth2/authorize?appid=nope", ready: "h1"},
		{name: "sandbox-not-found", path: "/sandbox/phone/nobody", ready: "h1"},
		{name: "logged-out-login", path: "/login", prepare: post("/logout", nil), ready: "#login-submit"},
		{name: "logged-out-signup", path: "/signup", ready: "#signup-submit"},
	}
	for _, p := range pages {
		for _, width := range []int64{390, 1280} {
			if p.prepare != nil {
				if err := p.prepare(); err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
			}
			var m pageMeasure
			var shot []byte
			opts := []chromedp.EmulateViewportOption{}
			if width < 600 {
				opts = append(opts, chromedp.EmulateMobile)
			}
			err := chromedp.Run(ctx,
				chromedp.EmulateViewport(width, 844, opts...),
				chromedp.Navigate(base+p.path),
				chromedp.WaitVisible(p.ready, chromedp.ByQuery),
				chromedp.Evaluate(pageCheck, &m),
				chromedp.FullScreenshot(&shot, 100), // PNG
			)
			if err != nil {
				t.Fatalf("%s at %d px: %v", p.name, width, err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d-%s.png", width, p.name)), shot, 0o644); err != nil {
				t.Fatal(err)
			}
			if m.H1 != 1 {
				t.Errorf("%s has %d h1 elements, want 1", p.name, m.H1)
			}
			if width > 600 {
				continue
			}
			// A phone lays out a page wider than its screen by zooming out:
			// the viewport then grows past the screen's width.
			if m.ScrollWidth > int(width) || m.InnerWidth > int(width) {
				t.Errorf("%s at %d px scrolls sideways: %d px wide (viewport %d); sticking out: %s",
					p.name, width, m.ScrollWidth, m.InnerWidth, strings.Join(m.Wide, "; "))
			}
			if len(m.Small) > 0 {
				t.Errorf("%s at %d px: tap targets under 40 px: %s", p.name, width, strings.Join(m.Small, "; "))
			}
		}
	}
}
