package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

const (
	appID  = "wxoutboxtest01"
	secret = "outbox-test-secret-0123456789"
)

// harness is a store with bound users and a sandbox playing WeChat over
// loopback HTTP.
type harness struct {
	t      testing.TB
	dbPath string
	st     *store.Store
	sb     *sandbox.Sandbox
	client *wechat.Client
	tokens *wechat.TokenManager
	users  []store.Recipient
	clock  *clock
}

// clock is the sandbox's clock; tests move it to close WeChat's windows.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

// harnessOption adjusts the sandbox's options once the store is open.
type harnessOption func(h *harness, o *sandbox.Options)

// persistSandbox keeps the sandbox's state in the harness's database, as
// sandbox mode does.
func persistSandbox(h *harness, o *sandbox.Options) { o.Persistence = h.st.SandboxState() }

func newHarness(t testing.TB, faults sandbox.Faults, n int, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessWith(t, harnessOptions{faults: faults, users: n, sandbox: opts})
}

type harnessOptions struct {
	faults sandbox.Faults
	users  int
	store  store.Options
	// wrap, if set, stands between the client and the sandbox: a WeChat
	// that misbehaves in ways the sandbox's faults do not cover.
	wrap func(http.Handler) http.Handler
	// sandbox options (e.g. persistSandbox)
	sandbox []harnessOption
}

func newHarnessWith(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	faults, n := o.faults, o.users
	h := &harness{t: t, dbPath: filepath.Join(t.TempDir(), "wxpush.db"), clock: &clock{}}
	var err error
	if h.st, err = store.OpenWith(ctx, h.dbPath, o.store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	h.st.SetBcryptCost(bcrypt.MinCost)
	so := sandbox.Options{AppID: appID, AppSecret: secret, Faults: faults, Now: h.clock.Now}
	for _, opt := range o.sandbox {
		opt(h, &so)
	}
	if h.sb, err = sandbox.New(so); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.sb.Close(); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	var api http.Handler = h.sb
	if o.wrap != nil {
		api = o.wrap(h.sb)
	}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	h.client = &wechat.Client{AppID: appID, AppSecret: secret, APIBase: ts.URL, OAuthBase: ts.URL,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	h.tokens = wechat.NewTokenManager(h.client, wechat.TokenOptions{})
	for i := range n {
		name := fmt.Sprintf("user%04d", i)
		u, err := h.st.CreateUser(ctx, name, "password-"+name, false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := h.st.NewBindToken(ctx, u.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		openid := h.sb.AddUser(name).OpenID
		if _, err := h.st.CompleteBinding(ctx, tok, store.Binding{OpenID: openid}); err != nil {
			t.Fatal(err)
		}
		h.users = append(h.users, store.Recipient{UserID: u.ID, Name: name, OpenID: openid})
	}
	// Sync the sandbox's sample templates.
	var ts2 []wechat.Template
	if err := h.tokens.Do(ctx, func(ctx context.Context, tok string) error {
		var err error
		ts2, err = h.client.Templates(ctx, tok)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var sts []store.Template
	for _, x := range ts2 {
		sts = append(sts, store.Template{ID: x.ID, Title: x.Title, Content: x.Content})
	}
	if err := h.st.ReplaceTemplates(ctx, sts); err != nil {
		t.Fatal(err)
	}
	return h
}

// freeTemplate is a sample template whose fields take free text.
func (h *harness) freeTemplate() (string, map[string]string) {
	h.t.Helper()
	ts, _ := h.st.Templates(context.Background())
	for _, t := range ts {
		keys := wechat.Template{Content: t.Content}.Keys()
		data := map[string]string{}
		ok := true
		for _, k := range keys {
			switch k {
			case "first", "remark", "content":
				data[k] = "测试内容 " + k
			default:
				ok = false
			}
		}
		if ok && len(keys) > 0 {
			return t.ID, data
		}
	}
	h.t.Fatal("the sandbox has no free-text sample template")
	return "", nil
}

func (h *harness) outbox(cfg outbox.Config) *outbox.Outbox {
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 5 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	cfg.PollInterval = 20 * time.Millisecond
	return outbox.New(h.st, outbox.WeChatSender{Client: h.client, Tokens: h.tokens}, cfg, slog.New(slog.DiscardHandler))
}

// enqueue queues a message through the same use case every adapter calls.
func (h *harness) enqueue(r service.SendRequest) store.Message {
	h.t.Helper()
	svc := service.New(service.Deps{Store: h.st}, service.Config{})
	m, err := svc.Send(context.Background(), service.Actor{Via: "test"}, r)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// run starts the outbox; the returned stop cancels it and waits.
func run(t *testing.T, o *outbox.Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("outbox.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) waitDone(id int64, d time.Duration) store.Message {
	h.t.Helper()
	var m store.Message
	waitFor(h.t, fmt.Sprintf("message %d to finish", id), d, func() bool {
		var err error
		m, err = h.st.Message(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		return m.Counts.Pending() == 0
	})
	return m
}

// assertExactlyOne checks every user's simulated phone holds exactly one message.
func (h *harness) assertExactlyOne() {
	h.t.Helper()
	for _, u := range h.users {
		if n := len(h.sb.Inbox(u.OpenID)); n != 1 {
			h.t.Errorf("%s has %d messages, want exactly 1", u.Name, n)
		}
	}
	if got := h.sb.TotalDelivered(); got != len(h.users) {
		h.t.Errorf("sandbox delivered %d messages in all, want %d", got, len(h.users))
	}
}

func TestOutbox_TransientFaultsStillDeliverExactlyOnce(t *testing.T) {
	h := newHarness(t, sandbox.Faults{ErrorRate: 0.1, HTTP500Rate: 0.1}, 150)
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	run(t, h.outbox(outbox.Config{Workers: 16, MaxAttempts: 30}))
	m = h.waitDone(m.ID, 60*time.Second)
	if m.Counts.Sent != len(h.users) || m.Counts.Failed != 0 {
		t.Fatalf("counts %+v, want all %d sent", m.Counts, len(h.users))
	}
	h.assertExactlyOne()
	st := h.sb.Stats()
	if st.Errors[-1] == 0 {
		t.Errorf("no -1 was injected (stats %+v): the test did not exercise retries", st)
	}
	ds, _ := h.st.Deliveries(context.Background(), m.ID)
	retried := 0
	for _, d := range ds {
		if d.MsgID == 0 {
			t.Errorf("delivery %d has no msgid", d.ID)
		}
		if d.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no delivery needed a second attempt despite 20% faults")
	}
}

func TestOutbox_PermanentErrorsFailAtOnce(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 6)
	// Half the users unfollow (43004 for template messages). Following
	// opened a 1-minute window (docs/wechat.md §4); two minutes later, with no message from
	// the users, text gets 45015.
	h.clock.Advance(2 * time.Minute)
	for _, u := range h.users[:3] {
		if err := h.sb.SetFollowing(u.OpenID, false); err != nil {
			t.Fatal(err)
		}
	}
	id, data := h.freeTemplate()
	mt := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	mx := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", UserIDs: []int64{h.users[4].UserID, h.users[5].UserID}})
	run(t, h.outbox(outbox.Config{Workers: 4}))
	mt = h.waitDone(mt.ID, 20*time.Second)
	mx = h.waitDone(mx.ID, 20*time.Second)
	if mt.Counts.Sent != 3 || mt.Counts.Failed != 3 {
		t.Errorf("template counts %+v, want 3 sent 3 failed", mt.Counts)
	}
	if mx.Counts.Failed != 2 {
		t.Errorf("text counts %+v, want 2 failed", mx.Counts)
	}
	for _, m := range []store.Message{mt, mx} {
		ds, _ := h.st.Deliveries(context.Background(), m.ID)
		for _, d := range ds {
			if d.State == store.StateFailed && (d.Attempts != 1 || (d.ErrCode != 43004 && d.ErrCode != 45015)) {
				t.Errorf("failed delivery %+v: want one attempt with 43004 or 45015", d)
			}
		}
	}
	people, _ := h.st.People(context.Background())
	unfollowed := 0
	for _, p := range people {
		if p.Following != nil && !*p.Following {
			unfollowed++
		}
	}
	if unfollowed != 3 {
		t.Errorf("%d users recorded as not following after 43004, want 3", unfollowed)
	}
}

func TestOutbox_DailyQuotaPausesWithoutSpinning(t *testing.T) {
	h := newHarness(t, sandbox.Faults{DailyQuota: 5}, 20)
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	o := h.outbox(outbox.Config{Workers: 4, MaxInFlight: 4})
	run(t, o)
	waitFor(t, "the pause", 20*time.Second, func() bool { return len(o.Paused()) == 1 })
	time.Sleep(300 * time.Millisecond) // let it settle: a spinning outbox would keep calling
	before := h.sb.Stats().Errors[45009]
	time.Sleep(300 * time.Millisecond)
	after := h.sb.Stats().Errors[45009]
	if after != before {
		t.Errorf("45009 answers went from %d to %d while paused: the outbox keeps calling", before, after)
	}
	if after > 4 {
		t.Errorf("%d calls answered 45009; a pause should stop after the in-flight ones (≤ MaxInFlight)", after)
	}
	got, _ := h.st.Message(context.Background(), m.ID)
	if got.Counts.Sent != 5 || got.Counts.Pending() != 15 {
		t.Fatalf("counts while paused %+v, want 5 sent and 15 waiting", got.Counts)
	}
	ds, _ := h.st.Deliveries(context.Background(), m.ID)
	for _, d := range ds {
		if d.State == store.StateRetrying && d.NextAttemptAt.Before(time.Now().Add(time.Minute)) {
			t.Errorf("paused delivery due at %v; want the quota reset (Beijing midnight)", d.NextAttemptAt)
			break
		}
	}
	// The admin resumes after WeChat's quota is cleared.
	h.sb.ResetQuota()
	h.sb.SetFaults(sandbox.Faults{})
	if err := o.Resume(context.Background(), store.KindTemplate); err != nil {
		t.Fatal(err)
	}
	got = h.waitDone(m.ID, 20*time.Second)
	if got.Counts.Sent != 20 {
		t.Fatalf("after resume %+v, want 20 sent", got.Counts)
	}
	h.assertExactlyOne()
}

func TestOutbox_TokenInvalidatedMidBroadcast(t *testing.T) {
	h := newHarness(t, sandbox.Faults{Latency: 2 * time.Millisecond}, 300)
	id, data := h.freeTemplate()
	fetchesBefore := h.sb.Stats().StableTokenFetches
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	run(t, h.outbox(outbox.Config{Workers: 16}))
	waitFor(t, "part of the broadcast", 30*time.Second, func() bool {
		got, _ := h.st.Message(context.Background(), m.ID)
		return got.Counts.Sent >= 60
	})
	h.sb.InvalidateTokens()
	got := h.waitDone(m.ID, 60*time.Second)
	if got.Counts.Sent != 300 {
		t.Fatalf("counts %+v, want all sent", got.Counts)
	}
	if f := h.sb.Stats().StableTokenFetches - fetchesBefore; f != 1 {
		t.Errorf("%d token fetches after the invalidation, want exactly 1", f)
	}
	h.assertExactlyOne()
}

func TestOutbox_CrashMidBroadcastResumesWithoutDuplicates(t *testing.T) {
	h := newHarness(t, sandbox.Faults{Latency: 15 * time.Millisecond}, 400)
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})

	// Kill: cancel without draining, then close the database under it.
	o := h.outbox(outbox.Config{Workers: 32, DrainTimeout: -1})
	stop := run(t, o)
	waitFor(t, "part of the broadcast", 30*time.Second, func() bool { return h.sb.TotalDelivered() >= 100 })
	stop()
	h.st.Close()
	if h.sb.TotalDelivered() >= 400 {
		t.Fatal("the broadcast finished before the crash; the test proves nothing")
	}

	// Restart on the same database file.
	st, err := store.Open(context.Background(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	interrupted := 0
	ds, _ := st.Deliveries(context.Background(), m.ID)
	for _, d := range ds {
		if d.State == store.StateSending {
			interrupted++
		}
	}
	t.Logf("after the crash: %d delivered in the sandbox, %d deliveries left 'sending'", h.sb.TotalDelivered(), interrupted)
	run(t, h.outbox(outbox.Config{Workers: 32}))
	got := h.waitDone(m.ID, 60*time.Second)
	if got.Counts.Sent != 400 || got.Counts.Final() != 400 {
		t.Fatalf("counts %+v, want every delivery final and sent", got.Counts)
	}
	h.assertExactlyOne()
}
