package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// TestRun_SandboxKeepsBoundUsersAcrossRestart is `go run .` twice: a user
// binds a new simulated WeChat user through the sandbox, the server
// restarts on the same database, and sending to that user and 刷新关注状态
// still work, with the access token the app cached before the restart.
func TestRun_SandboxKeepsBoundUsersAcrossRestart(t *testing.T) {
	ctx := t.Context()
	db := filepath.Join(t.TempDir(), "wxpush.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetBcryptCost(bcrypt.MinCost)
	if _, err := st.CreateUser(ctx, "admin", "password-admin", true, false); err != nil {
		t.Fatal(err)
	}
	apiToken, _, err := st.CreateAPIToken(ctx, "restart-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := map[string]string{"WXPUSH_DB": db}

	base, stop := startStoppableApp(t, env)
	web := newWebClient(t, base)
	web.login("admin", "password-admin")
	// Bind by scanning the bind page's QR code in the sandbox's phone, as a
	// new simulated user (not one of those seeded at every start) who then
	// follows the account.
	_, page := web.get("/bind")
	m := regexp.MustCompile(`href="([^"]+)"[^>]*id="open-in-phone"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sandbox link on the bind page:\n%s", page)
	}
	qr := html.UnescapeString(m[1])
	status, page := web.postURL(qr, url.Values{"step": {"choose"}, "nickname": {"赵六"}})
	m = regexp.MustCompile(`name="openid" value="([^"]+)"`).FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("scanning as a new user: %d\n%s", status, page)
	}
	openid := m[1]
	if status, _ := web.postURL(qr, url.Values{"step": {"follow"}, "openid": {openid}}); status != http.StatusSeeOther {
		t.Fatalf("following: %d", status)
	}
	if _, page := web.get("/bind"); !strings.Contains(page, `id="bind-success"`) && !strings.Contains(page, `data-state="current"`) {
		t.Fatalf("not bound after following:\n%s", page)
	}
	if status, _ := web.post("/admin/templates/sync", nil); status != http.StatusSeeOther {
		t.Fatalf("template sync: %d", status)
	}
	if _, page := web.get("/admin/templates"); !strings.Contains(page, "已从微信同步") {
		t.Fatalf("template sync:\n%s", page)
	}
	_, page = web.get("/sandbox/")
	m = regexp.MustCompile(`id="appid">([^<]+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no AppID on the sandbox page:\n%s", page)
	}
	appID := m[1]
	if want := sandbox.OpenID(appID, "赵六"); openid != want {
		t.Fatalf("openid %s, want %s", openid, want)
	}
	tid := sandbox.TemplateID(appID, "消息通知")
	if r := sendAndWait(t, base, apiToken, tid, "重启之前"); r.Counts.Sent != 1 {
		t.Fatalf("send before the restart: %+v", r)
	}
	stop()
	cached := accessTokenOf(t, db, appID)

	base, stop = startStoppableApp(t, env)
	if r := sendAndWait(t, base, apiToken, tid, "重启之后"); r.Counts.Sent != 1 || r.Recipients[0].ErrCode != 0 {
		t.Errorf("send after the restart: %+v", r)
	}
	web = newWebClient(t, base)
	if _, page := web.get("/sandbox/phone/" + openid); !strings.Contains(page, "重启之前") || !strings.Contains(page, "重启之后") {
		t.Errorf("the phone does not show both messages:\n%s", page)
	}
	web.login("admin", "password-admin")
	if status, loc := web.postRedirect("/admin/users/refresh"); status != http.StatusSeeOther || loc != "/admin#users" {
		t.Errorf("刷新关注状态: %d → %s", status, loc)
	}
	stop()
	if got := accessTokenOf(t, db, appID); got != cached {
		t.Error("the app had to fetch a new access token after the restart")
	}
}

// webClient is a browser without JavaScript: it keeps cookies and does not
// follow redirects.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webClient{t, base, &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) do(req *http.Request) (int, string, string) {
	w.t.Helper()
	res, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location")
}

func (w *webClient) get(path string) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.base+path, nil)
	status, body, _ := w.do(req)
	return status, body
}

func (w *webClient) postURL(u string, form url.Values) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, _ := w.do(req)
	return status, body
}

func (w *webClient) post(path string, form url.Values) (int, string) {
	w.t.Helper()
	return w.postURL(w.base+path, form)
}

func (w *webClient) postRedirect(path string) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest("POST", w.base+path, nil)
	status, _, loc := w.do(req)
	return status, loc
}

func (w *webClient) login(name, password string) {
	w.t.Helper()
	req, _ := http.NewRequest("POST", w.base+"/login", strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, body, _ := w.do(req); status != http.StatusSeeOther {
		w.t.Fatalf("login: %d\n%s", status, body)
	}
}

// apiMessageStatus is GET /api/v1/messages/{id}'s answer, as far as read.
type apiMessageStatus struct {
	Done   bool `json:"done"`
	Counts struct {
		Sent, Failed int
	} `json:"counts"`
	Recipients []struct {
		State   string `json:"state"`
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	} `json:"recipients"`
}

// sendAndWait sends a 消息通知 template message to admin through the API
// and returns its status once every delivery is final.
func sendAndWait(t *testing.T, base, token, tid, content string) apiMessageStatus {
	t.Helper()
	call := func(method, path string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	body, _ := json.Marshal(map[string]any{
		"to":       map[string]any{"users": []string{"admin"}},
		"template": map[string]any{"id": tid, "data": map[string]string{"title": "测试", "content": content}},
	})
	status, raw := call("POST", "/api/v1/messages", body)
	var accepted struct {
		ID int64 `json:"id"`
	}
	if status != http.StatusAccepted || json.Unmarshal(raw, &accepted) != nil || accepted.ID == 0 {
		t.Fatalf("POST /api/v1/messages: %d %s", status, raw)
	}
	var r apiMessageStatus
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, raw := call("GET", fmt.Sprint("/api/v1/messages/", accepted.ID), nil)
		if status != http.StatusOK || json.Unmarshal(raw, &r) != nil {
			t.Fatalf("GET message: %d %s", status, raw)
		}
		if r.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d not done: %s", accepted.ID, raw)
		}
	}
	return r
}

// accessTokenOf reads the app's cached access token while no server runs.
func accessTokenOf(t *testing.T, db, appID string) string {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, _, err := st.AccessToken(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
