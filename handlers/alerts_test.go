package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

func TestConflictAlert_FiresWhenTheSandboxsOtherSystemForcesRefreshes(t *testing.T) {
	ctx := context.Background()
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	var signs []wechat.TokenConflict
	tokens := wechat.NewTokenManager(app.Client, wechat.TokenOptions{Now: app.Clock.Now, OnConflict: func(c wechat.TokenConflict) {
		signs = append(signs, c)
		app.Service.RecordTokenConflict(ctx, c)
	}})
	call := func() {
		t.Helper()
		if err := tokens.Do(ctx, func(ctx context.Context, tok string) error {
			_, err := app.Client.APIDomainIP(ctx, tok)
			return err
		}); err != nil {
			t.Fatalf("a call with the token failed after the retry: %v", err)
		}
	}
	call()
	app.Clock.Advance(20 * time.Minute)
	call() // alone, wxpush's token is never refused early
	if len(signs) != 0 {
		t.Fatalf("conflicts without another system: %+v", signs)
	}

	app.SB.SetFaults(sandbox.Faults{RivalRefreshEvery: 10 * time.Minute})
	app.Clock.Advance(16 * time.Minute) // refreshed by the other system at +10, refused from +15
	call()
	if len(signs) != 1 || signs[0].Kind != wechat.ConflictRejected || signs[0].ErrCode != 40001 || signs[0].Left < time.Hour {
		t.Fatalf("after the first forced refresh: %+v", signs)
	}
	page := admin.get("/admin").Body
	if strings.Contains(page, `id="token-conflict"`) {
		t.Fatal("one sign raised the banner; it takes a repeat within the hour")
	}
	if !strings.Contains(page, "AppSecret 冲突") {
		t.Error("the sign is not in the audit log")
	}
	app.Clock.Advance(16 * time.Minute)
	call()
	if len(signs) != 2 {
		t.Fatalf("after the second forced refresh: %+v", signs)
	}
	if app.SB.RivalRefreshes() < 2 {
		t.Fatalf("the other system refreshed %d times", app.SB.RivalRefreshes())
	}
	page = admin.get("/admin").Body
	if !strings.Contains(page, `id="token-conflict"`) || !strings.Contains(page, "检测到另一个系统在使用同一 AppSecret 获取 access_token") ||
		!strings.Contains(page, "stable_token") {
		t.Fatalf("no conflict banner after two signs within the hour:\n%s", page)
	}
	res, err := http.Get(app.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status string
		Checks map[string]struct {
			OK     bool
			Reason string
		}
	}
	json.NewDecoder(res.Body).Decode(&rep)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || rep.Checks["token_conflict"].OK || !strings.Contains(rep.Checks["token_conflict"].Reason, "AppSecret") {
		t.Fatalf("/readyz: %d %+v", res.StatusCode, rep)
	}
	// An hour later the alert is over.
	app.Clock.Advance(61 * time.Minute)
	app.SB.SetFaults(sandbox.Faults{})
	if page := admin.get("/admin").Body; strings.Contains(page, `id="token-conflict"`) {
		t.Error("the banner outlived the hour")
	}
}

func TestDashboard_ShowsTheEgressIPWeChatRefused(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	if held, err := app.Tokens.Token(context.Background()); err == nil {
		app.Tokens.Invalidate(held) // as a refused call would: the next Token fetches
	}
	app.SB.SetFaults(sandbox.Faults{IPWhitelist: "203.0.113.7"})
	if _, err := app.Tokens.Token(context.Background()); err == nil {
		t.Fatal("a token for a caller outside the whitelist")
	}
	page := admin.get("/admin").Body
	if !strings.Contains(page, `<code id="egress-ip-value">127.0.0.1</code>`) || !strings.Contains(page, "设置与开发 → 基本配置 → 公众号开发信息 → IP白名单") ||
		!strings.Contains(page, "WXPUSH_WECHAT_PROXY") {
		t.Fatalf("the dashboard does not say which IP to whitelist, and where:\n%s", page)
	}
	// Whitelisted, the next fetch works and the hint is gone.
	app.SB.SetFaults(sandbox.Faults{IPWhitelist: "203.0.113.7, 127.0.0.1"})
	tokens := wechat.NewTokenManager(app.Client, wechat.TokenOptions{})
	if _, err := tokens.Token(context.Background()); err != nil {
		t.Fatalf("after whitelisting: %v", err)
	}
}
