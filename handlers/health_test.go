package handlers_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/handlers"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/static"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

type readyBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

func getReady(t *testing.T, base string) (int, readyBody, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body readyBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("readyz body is not JSON: %v\n%s", err, raw)
	}
	return resp.StatusCode, body, string(raw)
}

func TestHealthz_AnswersOK(t *testing.T) {
	app := newTestApp(t)
	r := app.browser(t).get("/healthz")
	if r.Status != 200 || r.Body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\\n\"", r.Status, r.Body)
	}
}

func TestReadyz_ReadyWhenDatabaseWritableAndTokenObtainable(t *testing.T) {
	app := newTestApp(t)
	status, body, raw := getReady(t, app.URL)
	if status != http.StatusOK || body.Status != "ready" || !body.Checks["database"].OK || !body.Checks["wechat"].OK {
		t.Fatalf("GET /readyz = %d %s, want 200 ready with both checks ok", status, raw)
	}
}

// readyApp is a bare site whose WeChat app secret is wrong, with the
// database file's path so a test can lock it from outside.
func readyApp(t *testing.T) (base, dbPath, secret string) {
	t.Helper()
	ctx := context.Background()
	dbPath = filepath.Join(t.TempDir(), "wxpush.db")
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sb, err := sandbox.New(sandbox.Options{AppID: "wxready0001", AppSecret: "the-right-secret-0123"})
	if err != nil {
		t.Fatal(err)
	}
	wx := httptest.NewServer(sb)
	t.Cleanup(wx.Close)
	secret = "a-wrong-secret-s3cr3t-value"
	client := &wechat.Client{AppID: "wxready0001", AppSecret: secret, APIBase: wx.URL, OAuthBase: wx.URL}
	ts := httptest.NewUnstartedServer(nil)
	u, _ := url.Parse("http://" + ts.Listener.Addr().String())
	tokens := wechat.NewTokenManager(client, wechat.TokenOptions{})
	srv := handlers.New(handlers.Server{
		App:    service.New(service.Deps{Store: st, WeChat: client, Tokens: tokens}, service.Config{BaseURL: u}),
		Store:  st,
		Tokens: tokens,
		Static: static.New(),
		Config: handlers.Config{BaseURL: u},
	})
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, dbPath, secret
}

func TestReadyz_NotReadyWhenTokenCannotBeFetched(t *testing.T) {
	base, _, secret := readyApp(t)
	status, body, raw := getReady(t, base)
	if status != http.StatusServiceUnavailable || body.Status != "not_ready" {
		t.Fatalf("GET /readyz = %d %s, want 503 not_ready", status, raw)
	}
	if !body.Checks["database"].OK {
		t.Errorf("database check failed: %s", raw)
	}
	wx := body.Checks["wechat"]
	if wx.OK || !strings.Contains(wx.Reason, "40125") {
		t.Errorf("wechat check = %+v, want not ok with WeChat's 40125 (invalid appsecret)", wx)
	}
	if strings.Contains(raw, secret) {
		t.Errorf("readyz shows the app secret: %s", raw)
	}
}

func TestReadyz_NotReadyWhenDatabaseLocked(t *testing.T) {
	base, dbPath, _ := readyApp(t)
	// Another process holds the write lock.
	other, err := sql.Open("sqlite3", "file:"+dbPath+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	start := time.Now()
	status, body, raw := getReady(t, base)
	if status != http.StatusServiceUnavailable || body.Checks["database"].OK {
		t.Fatalf("GET /readyz with the database locked = %d %s, want 503 with the database check failing", status, raw)
	}
	t.Logf("answered in %v: %s", time.Since(start).Round(time.Millisecond), raw)
}
