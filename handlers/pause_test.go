package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat/sandbox"
)

// While WeChat's daily quota stops template messages, programs are told:
// /readyz stays 200 with an outbox check naming the pause, and the message
// status says until when and why nothing moves.
func TestPause_VisibleToProgramsInReadyzAndMessageStatus(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	app.bindUser(t, "alice")
	app.syncTemplates(t)
	token := admin.createToken("ci")
	app.SB.SetFaults(sandbox.Faults{DailyQuota: 1})
	free := sandbox.TemplateID(testAppID, "测试消息")
	r := app.api(t, "POST", "/api/v1/messages", token, `{"to":{"all":true},"template":{"id":"`+free+`","data":{"content":"x"}}}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	statusURL := r.JSON["status_url"].(string)

	var st apiResp
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = app.api(t, "GET", statusURL, token, "")
		if st.JSON["paused_until"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no paused_until in the message status:\n%s", st.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	until, err := time.Parse(time.RFC3339, st.JSON["paused_until"].(string))
	if err != nil || !until.After(time.Now()) {
		t.Errorf("paused_until %v (%v), want a future RFC 3339 time", st.JSON["paused_until"], err)
	}
	if reason, _ := st.JSON["paused_reason"].(string); !strings.Contains(reason, "45009") {
		t.Errorf("paused_reason %q, want WeChat's 45009", reason)
	}
	if st.JSON["done"] != false {
		t.Errorf("done = %v while a delivery waits for the quota", st.JSON["done"])
	}

	resp, err := http.Get(app.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep struct {
		Status string `json:"status"`
		Checks map[string]struct {
			OK     bool   `json:"ok"`
			Reason string `json:"reason"`
			Paused []struct {
				Kind, Until, Reason string
			} `json:"paused"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	ob := rep.Checks["outbox"]
	if resp.StatusCode != http.StatusOK || !ob.OK || len(ob.Paused) != 1 || ob.Paused[0].Kind != "template" ||
		!strings.Contains(ob.Reason, "paused until") {
		t.Errorf("readyz = %d %s, want 200 with the outbox check naming the template pause", resp.StatusCode, raw)
	}
}
