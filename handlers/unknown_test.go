package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// A text whose send may have reached WeChat (HTTP 500 after the request
// was written) is 结果未知: counted in the API, explained on the message
// page, never resent on its own, and resent once when an admin asks.
func TestUnknown_ShownCountedAndResentByAnAdmin(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	token := admin.createToken("ci")
	if err := app.SB.Say(sandbox.OpenID(testAppID, "root"), "你好"); err != nil {
		t.Fatal(err)
	}
	app.SB.SetFaults(sandbox.Faults{HTTP500Rate: 1})
	r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"users":["root"]},"text":"部署完成"}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	statusURL := r.JSON["status_url"].(string)
	st := waitDone(t, app, token, statusURL)
	counts := st.JSON["counts"].(map[string]any)
	if counts["unknown"] != float64(1) || st.JSON["done"] != true {
		t.Fatalf("counts %v, want one unknown and the message done\n%s", counts, st.Body)
	}
	rc := st.JSON["recipients"].([]any)[0].(map[string]any)
	if rc["state"] != store.StateUnknown {
		t.Errorf("recipient state %v, want unknown", rc["state"])
	}
	page := admin.get("/admin" + statusURL[len("/api/v1"):])
	for _, want := range []string{"结果未知 1", `id="resend-unknown"`, "重发结果未知的 1 条", `id="unknown-explained"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	// Not resent on its own: the sandbox got exactly one text.
	inbox := func() int { return len(app.SB.Inbox(sandbox.OpenID(testAppID, "root"))) }
	before := inbox()

	app.SB.SetFaults(sandbox.Faults{})
	res := admin.post("/admin"+statusURL[len("/api/v1"):]+"/resend-unknown", nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("resend: %d %s", res.Status, res.Body)
	}
	st = waitDone(t, app, token, statusURL)
	counts = st.JSON["counts"].(map[string]any)
	if counts["sent"] != float64(1) || counts["unknown"] != float64(0) {
		t.Fatalf("after resend: %v", counts)
	}
	deadline := time.Now().Add(5 * time.Second)
	for inbox() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if inbox() != before+1 {
		t.Errorf("inbox %d → %d, want one more text", before, inbox())
	}
	log, _ := app.Store.AuditLog(context.Background(), 5)
	if len(log) == 0 || log[0].Action != "message.resend_unknown" {
		t.Errorf("audit %+v, want the resend first", log)
	}
}
