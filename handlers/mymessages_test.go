package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/service"
)

var inboxItem = regexp.MustCompile(`<a href="([^"]+)" class="inbox-name">([^<]+)</a>`)
var olderLink = regexp.MustCompile(`<a href="(/messages\?before=\d+)" rel="next" id="older">`)

func TestMyMessages_PagedNewestFirstWithLinks(t *testing.T) {
	app, _ := notificationApp(t) // root and alice bound
	alice := app.browser(t)
	alice.login("alice")
	ctx := context.Background()
	for i := range service.MyMessagesPage + 2 {
		if _, err := app.Service.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification,
			Title: "通知 " + string(rune('a'+i)), UserNames: []string{"alice"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.Service.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, Title: "给 root 的", UserNames: []string{"root"}}); err != nil {
		t.Fatal(err)
	}
	r := alice.get("/messages")
	items := inboxItem.FindAllStringSubmatch(r.Body, -1)
	if r.Status != 200 || len(items) != service.MyMessagesPage {
		t.Fatalf("%d, %d items\n%s", r.Status, len(items), r.Body)
	}
	if items[0][2] != "通知 v" || strings.Contains(r.Body, "给 root 的") {
		t.Errorf("first item %q: want alice's newest, none of root's", items[0][2])
	}
	if page := app.browser(t).get(items[0][1]); page.Status != 200 || !strings.Contains(page.Body, "通知 v") {
		t.Errorf("the item's link %s: %d", items[0][1], page.Status)
	}
	older := olderLink.FindStringSubmatch(r.Body)
	if older == nil {
		t.Fatal("no link to older messages")
	}
	r = alice.get(older[1])
	items = inboxItem.FindAllStringSubmatch(r.Body, -1)
	if len(items) != 2 || items[1][2] != "通知 a" || olderLink.MatchString(r.Body) {
		t.Errorf("older page: %v", items)
	}

	unbound := app.browser(t)
	unbound.signup("bob")
	if r := unbound.get("/messages"); !strings.Contains(r.Body, `id="not-bound"`) || !strings.Contains(r.Body, `id="no-messages"`) {
		t.Errorf("unbound user's page:\n%s", r.Body)
	}
	if r := app.browser(t).get("/messages"); r.Status != http.StatusSeeOther {
		t.Errorf("signed out: %d, want the login redirect", r.Status)
	}
}

// login signs the browser in as name (whose password is password-name).
