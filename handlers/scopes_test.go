package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestTokens_PageAndAPISayWhichScopesATokenHas(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	if r := admin.follow(admin.post("/admin/tokens", url.Values{"name": {"none"}})); !strings.Contains(r.Body, "至少选择一项权限") {
		t.Fatalf("a token without scopes: %d\n%s", r.Status, r.Body)
	}
	r := admin.follow(admin.post("/admin/tokens", url.Values{"name": {"监控"}, "scopes": {"read"}}))
	m := newTokenRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		t.Fatalf("create: %d\n%s", r.Status, r.Body)
	}
	reader := m[1]
	row := regexp.MustCompile(`<td>监控</td><td><code>wxp_[^<]*…</code></td><td class="scopes">(.*?)</td>`).FindStringSubmatch(admin.get("/admin/tokens").Body)
	if row == nil || !strings.Contains(row[1], "<code>read</code>") || strings.Contains(row[1], "send") {
		t.Fatalf("the token list does not show the scopes: %v", row)
	}
	who := app.api(t, "GET", "/api/v1/token", reader, "")
	if who.Status != 200 || who.JSON["name"] != "监控" || len(who.JSON["scopes"].([]any)) != 1 || who.JSON["scopes"].([]any)[0] != "read" {
		t.Fatalf("GET /api/v1/token: %d %s", who.Status, who.Body)
	}
	if u := app.api(t, "GET", "/api/v1/users", reader, ""); u.Status != 200 || u.Header.Get("Wxpush-Token-Scopes") != "read" {
		t.Fatalf("read with a read token: %d %q", u.Status, u.Header.Get("Wxpush-Token-Scopes"))
	}
	send := app.api(t, "POST", "/api/v1/messages", reader, `{"to":{"all":true},"text":"hi"}`)
	if send.Status != http.StatusForbidden || send.errCode() != "insufficient_scope" || !strings.Contains(send.Body, `\"send\"`) {
		t.Fatalf("send with a read token: %d %s", send.Status, send.Body)
	}
}
