package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// A broadcast whose every TEMPLATESENDJOBFINISH reaches /wechat before the
// template send is answered (the sandbox's receipt-first fault, set on its
// fault-injection page) ends with every delivery delivered: the real
// program, its sandbox and its handlers over loopback, the message queued
// by `wxpush send` as an operator would.
func TestRun_ReceiptsThatArriveBeforeTheMsgIDAreApplied(t *testing.T) {
	ctx := t.Context()
	db := filepath.Join(t.TempDir(), "wxpush.db")
	env := map[string]string{"WXPUSH_DB": db}
	base := startApp(t, env)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(base+"/sandbox/faults", url.Values{"receipt_first": {"on"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setting receipt_first: %d", res.StatusCode)
	}

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetBcryptCost(bcrypt.MinCost)
	raw, err := st.Setting(ctx, "sandbox_app")
	if err != nil {
		t.Fatal(err)
	}
	var app sandboxApp
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	// 32 followers of the sandbox account, each bound to an account.
	const users = 32
	for i := range users {
		name := fmt.Sprintf("r%02d", i)
		res, err := http.PostForm(base+"/sandbox/users", url.Values{"nickname": {name}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		u, err := st.CreateUser(ctx, name, "password-"+name, false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := st.NewBindToken(ctx, u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteBinding(ctx, tok, store.Binding{OpenID: sandbox.OpenID(app.AppID, name)}); err != nil {
			t.Fatal(err)
		}
	}
	tid := syncedTemplate(t, st, "title", "content")

	var out bytes.Buffer
	getenv := func(k string) string { return env[k] }
	if err := run(ctx, []string{"send", "-all", "-template", tid, "-data", "title=对账", "-data", "content=已完成", "-wait"},
		getenv, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("wxpush send: %v\n%s", err, out.String())
	}
	ms, err := st.Messages(ctx, 1, 0)
	if err != nil || len(ms) != 1 || ms[0].Total != users {
		t.Fatalf("messages %+v, %v; want one to %d users", ms, err, users)
	}
	ds, err := st.Deliveries(ctx, ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, d := range ds {
		if d.State == store.StateSent && d.MsgID != 0 && d.Receipt == store.ReceiptDelivered {
			delivered++
		} else {
			t.Errorf("delivery to %s: state %s, msgid %d, receipt %q; want sent and delivered", d.UserName, d.State, d.MsgID, d.Receipt)
		}
	}
	if delivered != users {
		t.Errorf("%d of %d deliveries delivered", delivered, users)
	}
	if n, err := st.PendingReceipts(ctx); err != nil || n != 0 {
		t.Errorf("%d receipts still pending, %v; want every one applied", n, err)
	}
}

// syncedTemplate waits for the start-up template sync and returns the id
// of a template with the given keys.
func syncedTemplate(t *testing.T, st *store.Store, keys ...string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ts, err := st.Templates(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tm := range ts {
			have := (wechat.Template{Content: tm.Content}).Keys()
			if !slices.ContainsFunc(keys, func(k string) bool { return !slices.Contains(have, k) }) {
				return tm.ID
			}
		}
	}
	t.Fatalf("no template with keys %v synced", keys)
	return ""
}
