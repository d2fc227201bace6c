package wechat

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDo_ParsesRegardlessOfContentTypeAndKeeps64BitIDs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","msgid":3717005636572528642}`)
	}))
	defer srv.Close()
	c := &Client{APIBase: srv.URL}
	var generic map[string]any
	if err := c.getJSON(t.Context(), "/x", nil, &generic); err != nil {
		t.Fatal(err)
	}
	if n, ok := generic["msgid"].(json.Number); !ok || n.String() != "3717005636572528642" {
		t.Errorf("msgid = %#v, want json.Number 3717005636572528642", generic["msgid"])
	}
	var typed struct {
		MsgID int64 `json:"msgid"`
	}
	if err := c.postJSON(t.Context(), "/x", nil, map[string]string{"a": "<b>"}, &typed); err != nil {
		t.Fatal(err)
	}
	if typed.MsgID != 3717005636572528642 {
		t.Errorf("msgid = %d", typed.MsgID)
	}
}

func TestDo_ErrorNeverShowsSecret(t *testing.T) {
	const secret = "topsecretvalue123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A hostile or buggy answer echoing the request back.
		fmt.Fprintf(w, `{"errcode":40125,"errmsg":"invalid appsecret %s rid: 1-2-3"}`, r.URL.Query().Get("secret"))
	}))
	defer srv.Close()
	c := &Client{AppID: "wx1", AppSecret: secret, APIBase: srv.URL}
	_, err := c.Token(t.Context())
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v", err)
	}
}

func TestDo_NotJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>gateway</html>")
	}))
	defer srv.Close()
	c := &Client{APIBase: srv.URL, AppSecret: "sec"}
	_, err := c.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not JSON") || strings.Contains(err.Error(), "sec&") {
		t.Errorf("err = %v", err)
	}
}

func TestRedactQuery(t *testing.T) {
	in := `Get "http://h/cgi-bin/token?grant_type=x&secret=abc": stopped after 10 redirects`
	got := redactQuery(in)
	if strings.Contains(got, "abc") || !strings.Contains(got, "stopped after 10 redirects") {
		t.Errorf("redactQuery = %q", got)
	}
}
