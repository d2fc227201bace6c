package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
)

// cliStore makes a database with a bound user alice and the free-form
// notification template, for `wxpush send`.
func cliStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "wxpush.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetBcryptCost(bcrypt.MinCost)
	u, err := st.CreateUser(ctx, "alice", "password-alice", false, false)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.NewBindToken(ctx, u.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteBinding(ctx, tok, store.Binding{OpenID: "oAlice"}); err != nil {
		t.Fatal(err)
	}
	if err := st.ReplaceTemplates(ctx, []store.Template{{ID: "TPL", Title: "消息通知", Content: "标题：{{title.DATA}}\n内容：{{content.DATA}}"}}); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSendCommand_Notification(t *testing.T) {
	db := cliStore(t)
	env := func(k string) string {
		return map[string]string{"WXPUSH_DB": db, "WXPUSH_BASE_URL": "https://push.example.com"}[k]
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"send", "-to", "alice", "-title", "部署完成", "-content", "**v1.2.3** 已上线", "-content-type", "markdown"},
		env, strings.NewReader(""), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`detail page: https://push\.example\.com/m/([A-Za-z0-9]{24})\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output %q: want the detail page's link", out.String())
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.PageByToken(context.Background(), m[1])
	if err != nil || page.Content != "**v1.2.3** 已上线" || page.ContentType != store.ContentMarkdown {
		t.Fatalf("page %+v, %v", page, err)
	}
	msg, _ := st.MessageContent(context.Background(), page.MessageID)
	if msg.Data["title"] != "部署完成" || msg.Data["content"] != "v1.2.3 已上线" || msg.URL != "https://push.example.com/m/"+m[1] {
		t.Errorf("queued %+v", msg)
	}
}

func TestSendCommand_RefusesBadNotifications(t *testing.T) {
	db := cliStore(t)
	env := func(k string) string { return map[string]string{"WXPUSH_DB": db}[k] }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two shapes", []string{"-to", "alice", "-title", "x", "-text", "y"}, "one of -title/-content, -text and -template"},
		{"content type", []string{"-to", "alice", "-title", "x", "-content-type", "html"}, "content_type"},
		{"no title", []string{"-to", "alice", "-content", "x"}, "title"},
		{"bad base url", []string{"-to", "alice", "-title", "x", "-base-url", "push.example.com"}, "-base-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"send"}, tt.args...), env, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestSendCommand_Topics(t *testing.T) {
	db := cliStore(t)
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	top, err := st.CreateTopic(ctx, store.Topic{Slug: "ops", Name: "运维"})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := st.UserByName(ctx, "alice")
	if _, err := st.Subscribe(ctx, top.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := func(k string) string { return map[string]string{"WXPUSH_DB": db}[k] }
	var out bytes.Buffer
	if err := run(t.Context(), []string{"send", "-topic", "ops", "-to", "alice", "-title", "发布"}, env, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "to 1 recipient(s)") {
		t.Errorf("output %q: want alice once", out.String())
	}
	for _, args := range [][]string{{"-topic", "nope", "-title", "x"}, {"-all", "-topic", "ops", "-title", "x"}} {
		if err := run(t.Context(), append([]string{"send"}, args...), env, strings.NewReader(""), io.Discard, io.Discard); err == nil {
			t.Errorf("send %v: no error", args)
		}
	}
}
