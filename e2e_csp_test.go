package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// reportCSPViolations runs in every page before its own scripts (scripts
// added over the DevTools protocol are not subject to the page's CSP) and
// turns each securitypolicyviolation event into a console error the
// watcher reads, in case the browser's own report is worded otherwise.
const reportCSPViolations = `document.addEventListener('securitypolicyviolation', function (e) {
	console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// watchPage fails t, when the test ends, for every Content-Security-Policy
// violation and every uncaught JavaScript exception in the tab ctx: pages
// must work under the policy they are served with.
func watchPage(t *testing.T, ctx context.Context) {
	t.Helper()
	var mu sync.Mutex
	var problems []string
	report := func(s string) {
		mu.Lock()
		problems = append(problems, s)
		mu.Unlock()
	}
	isCSP := func(s string) bool {
		return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "CSP violation")
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			if isCSP(ev.Entry.Text) {
				report(ev.Entry.Text + " (" + ev.Entry.URL + ")")
			}
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				if isCSP(string(a.Value)) || isCSP(a.Description) {
					report(string(a.Value) + a.Description)
				}
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			report("uncaught exception: " + msg + " (" + d.URL + ")")
		}
	})
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(reportCSPViolations).Do(ctx)
		return err
	}))
	if err != nil {
		t.Fatalf("watch page: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser: %s", p)
		}
	})
}

// newTab opens another tab of the browser of ctx, watched like the first.
func newTab(t *testing.T, ctx context.Context) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	if err := chromedp.Run(tab); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	watchPage(t, tab)
	return tab, cancel
}

// answerDialogs answers the tab's JavaScript dialogs (confirm) with what
// accept holds at the time, and sends each dialog's message on the
// returned channel.
func answerDialogs(ctx context.Context, accept *atomic.Bool) <-chan string {
	msgs := make(chan string, 10)
	chromedp.ListenTarget(ctx, func(ev any) {
		if ev, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			msgs <- ev.Message
			ok := accept.Load()
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(ok))
		}
	})
	return msgs
}

// clickAndAnswer clicks sel and waits for the confirm dialog it opens.
func clickAndAnswer(t *testing.T, ctx context.Context, dialogs <-chan string, sel string) string {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Click(sel, chromedp.ByQuery, chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	select {
	case m := <-dialogs:
		return m
	case <-ctx.Done():
		t.Fatalf("clicking %s opened no confirm dialog (is app.js loaded and allowed by the CSP?)", sel)
	}
	return ""
}
