package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// recordBusy makes the page note, the moment the request of the button
// sel leaves (htmx:beforeSend), whether the button is disabled, its
// spinner shown and the live region saying what is being done. Taken at
// that event, the observation does not depend on how long WeChat takes.
func recordBusy(sel string) chromedp.Action {
	return chromedp.Evaluate(`(() => {
		window.__busy = null;
		document.addEventListener('htmx:beforeSend', () => {
			const b = document.querySelector(`+"`"+sel+"`"+`);
			if (!b || window.__busy) return;
			const spin = b.querySelector('.spinner');
			window.__busy = {
				disabled: b.disabled,
				spinner: !!spin && getComputedStyle(spin).display !== 'none',
				live: document.querySelector('#live').textContent,
			};
		});
	})()`, nil)
}

type busyState struct {
	Disabled bool   `json:"disabled"`
	Spinner  bool   `json:"spinner"`
	Live     string `json:"live"`
}

// TestE2E_WeChatButtonsShowBusyAndResult: with WeChat slow (sandbox
// latency), 从微信同步模板 and 刷新关注状态 are disabled with a spinner and
// a spoken "正在…" while their request runs, then the page says what
// happened; the sandbox's 故障注入 → 保存 confirms what it saved.
func TestE2E_WeChatButtonsShowBusyAndResult(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, nil)
	signUpInBrowser(t, ctx, base, "root")
	bindInPhone(t, ctx, "王小二")

	// The sandbox's fault form, in the browser: its answer says what it saved.
	var saved string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/sandbox/"),
		chromedp.WaitVisible(`#latency`, chromedp.ByQuery),
		chromedp.SetValue(`#latency`, "800", chromedp.ByQuery),
		chromedp.Click(`#set-faults`, chromedp.ByQuery),
		chromedp.WaitVisible(`#faults-saved`, chromedp.ByQuery),
		chromedp.Text(`#faults-saved`, &saved, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("saving faults: %v", err)
	}
	if !strings.Contains(saved, "故障注入已保存") || !strings.Contains(saved, "800 毫秒") {
		t.Errorf("after 保存 the sandbox says %q", saved)
	}

	for _, tt := range []struct {
		page, button, busy, result string
	}{
		{"/admin/templates", "#sync-templates", "正在从微信同步模板", "已从微信同步"},
		{"/admin", "#refresh-follow", "正在向微信查询关注状态", "已从微信刷新 1 位"},
	} {
		var busy busyState
		var result, path string
		var enabledAfter bool
		err := chromedp.Run(ctx,
			chromedp.Navigate(base+tt.page),
			chromedp.WaitVisible(tt.button, chromedp.ByQuery),
			recordBusy(tt.button),
			chromedp.Click(tt.button, chromedp.ByQuery),
			chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
			chromedp.Text(`#flash`, &result, chromedp.ByQuery),
			chromedp.Evaluate(`window.__busy`, &busy),
			chromedp.Evaluate(`location.pathname`, &path),
			chromedp.Evaluate(`!document.querySelector('`+tt.button+`').disabled`, &enabledAfter),
		)
		if err != nil {
			t.Fatalf("%s: %v", tt.button, err)
		}
		if !busy.Disabled || !busy.Spinner || !strings.Contains(busy.Live, tt.busy) {
			t.Errorf("%s while its request runs: %+v; want disabled, spinner shown, #live saying %q", tt.button, busy, tt.busy)
		}
		if !strings.Contains(result, tt.result) || path != tt.page || !enabledAfter {
			t.Errorf("%s afterwards: %q at %s (enabled %v); want %q at %s", tt.button, result, path, enabledAfter, tt.result, tt.page)
		}
	}
}

// TestE2E_PollingSaysWhenTheServerIsUnreachable: the binding page polls;
// while its polls cannot reach the server it says 连接中断，正在重试…, and
// when they get through again the message goes and the page completes the
// binding by itself.
func TestE2E_PollingSaysWhenTheServerIsUnreachable(t *testing.T) {
	ctx := newBrowser(t)
	base := startApp(t, map[string]string{"WX_BIND_MODE": "oauth"})
	signUpInBrowser(t, ctx, base, "carol")

	var lost string
	err := chromedp.Run(ctx,
		network.Enable(),
		network.SetBlockedURLs([]string{"*/bind/status*"}),
		chromedp.WaitVisible(`#conn-status`, chromedp.ByQuery),
		chromedp.Text(`#conn-status`, &lost, chromedp.ByQuery),
		network.SetBlockedURLs([]string{}),
		chromedp.WaitNotVisible(`#conn-status`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("connection lost and back: %v", err)
	}
	if lost != "连接中断，正在重试…" {
		t.Errorf("while unreachable the page says %q", lost)
	}
	// Still polling: the binding completes without a reload.
	var stillPolling int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('#bind-status[hx-trigger]').length`, &stillPolling)); err != nil {
		t.Fatal(err)
	}
	if stillPolling != 1 {
		t.Fatal("the page stopped polling after the connection came back")
	}
	bindInPhone(t, ctx, "钱七")
}

// The sandbox's fault form posted directly, for tests that set faults
// without the browser.
func setSandboxFaults(t *testing.T, base string, form url.Values) {
	t.Helper()
	res, err := http.PostForm(base+"/sandbox/faults", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}
