package outbox_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
	"github.com/wxpush/wxpush/wechat/sandbox"
)

// logWatch is a slog handler that reports the records whose message starts
// with a prefix.
type logWatch struct {
	prefix string
	hits   chan string
}

func newLogWatch(prefix string) *logWatch {
	return &logWatch{prefix: prefix, hits: make(chan string, 1000)}
}

func (l *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (l *logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, l.prefix) {
		select {
		case l.hits <- r.Message:
		default:
		}
	}
	return nil
}
func (l *logWatch) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logWatch) WithGroup(string) slog.Handler      { return l }

func (l *logWatch) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-l.hits:
		case <-time.After(30 * time.Second):
			t.Fatalf("saw %d of %d log records %q", i, n, l.prefix)
		}
	}
}

// hookSender is the real sender with a hook run before each send.
type hookSender struct {
	outbox.Sender
	before func()
}

func (s hookSender) SendTemplate(ctx context.Context, m wechat.TemplateMessage) (int64, error) {
	s.before()
	return s.Sender.SendTemplate(ctx, m)
}

func (s hookSender) SendText(ctx context.Context, openid, content string) error {
	s.before()
	return s.Sender.SendText(ctx, openid, content)
}

// holdWriteLock takes SQLite's write lock on path from a connection of its
// own (BEGIN IMMEDIATE), as another process would, until release.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Rollback()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func (h *harness) deliveries(id int64) []store.Delivery {
	h.t.Helper()
	ds, err := h.st.Deliveries(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return ds
}

// inboxCount is how many messages a user's simulated phone holds.
func (h *harness) inboxCount(openid string) int { return len(h.sb.Inbox(openid)) }

// openWindows makes each user message the account, opening the 48-hour
// customer-service window text needs.
func (h *harness) openWindows(us []store.Recipient) {
	h.t.Helper()
	for _, u := range us {
		if err := h.sb.Interact(u.OpenID); err != nil {
			h.t.Fatal(err)
		}
	}
}

func ids(us []store.Recipient) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.UserID
	}
	return out
}

// Another connection holds SQLite's write lock longer than the busy
// timeout while sends finish: their outcomes cannot be written. They are
// kept and retried, and once the lock is released they land — the
// messages finish and nothing stays sending.
func TestOutbox_ResultsLandAfterTheWriteLockIsReleased(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{users: 24, store: store.Options{BusyTimeout: 50 * time.Millisecond}})
	h.openWindows(h.users[20:])
	id, data := h.freeTemplate()
	mt := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, UserIDs: ids(h.users[:20])})
	mx := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", UserIDs: ids(h.users[20:])})

	firstSend, locked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sender := hookSender{Sender: outbox.WeChatSender{Client: h.client, Tokens: h.tokens}, before: func() {
		once.Do(func() { close(firstSend); <-locked })
	}}
	logs := newLogWatch("outbox: recording results")
	o := outbox.New(h.st, sender, outbox.Config{Workers: 4, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		PollInterval: 20 * time.Millisecond}, slog.New(logs))
	run(t, o)
	<-firstSend
	release := holdWriteLock(t, h.dbPath)
	close(locked)
	logs.wait(t, 2) // two failed writes: the outcomes wait in memory

	got, err := h.st.Message(context.Background(), mt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts.Sent != 0 || got.Counts.Sending == 0 {
		t.Fatalf("counts while locked %+v: want sends under way, none recorded", got.Counts)
	}
	if h.sb.TotalDelivered() == 0 {
		t.Fatal("nothing was delivered while the database was locked; the test proves nothing")
	}
	release()

	for _, m := range []store.Message{mt, mx} {
		got := h.waitDone(m.ID, 30*time.Second)
		if got.Counts.Sent != m.Total {
			t.Errorf("message %d counts %+v, want all %d sent", m.ID, got.Counts, m.Total)
		}
		for _, d := range h.deliveries(m.ID) {
			if d.State == store.StateSending {
				t.Errorf("delivery %d still sending", d.ID)
			}
		}
	}
	h.assertExactlyOne()
	waitFor(t, "the outbox to let go of every delivery", 10*time.Second, func() bool { return o.Held() == 0 })
}

// A stop while the database stays locked waits ResultTimeout, then leaves
// the unwritten deliveries sending under their lease; the next start takes
// them back and the template messages arrive once.
func TestOutbox_StopWhileLockedLeavesDeliveriesToTheLease(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{users: 5, store: store.Options{BusyTimeout: 50 * time.Millisecond}})
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})

	firstSend, locked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sender := hookSender{Sender: outbox.WeChatSender{Client: h.client, Tokens: h.tokens}, before: func() {
		once.Do(func() { close(firstSend); <-locked })
	}}
	logs := newLogWatch("outbox: recording results")
	o := outbox.New(h.st, sender, outbox.Config{Workers: 5, PollInterval: 20 * time.Millisecond,
		ResultTimeout: 200 * time.Millisecond}, slog.New(logs))
	stop := run(t, o)
	<-firstSend
	release := holdWriteLock(t, h.dbPath)
	close(locked)
	waitFor(t, "every send", 10*time.Second, func() bool { return h.sb.TotalDelivered() == 5 })
	logs.wait(t, 1)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return while the database stayed locked")
	}
	release()
	for _, d := range h.deliveries(m.ID) {
		if d.State != store.StateSending || d.LeaseUntil.IsZero() {
			t.Errorf("delivery %d after the stop: %s, lease %v; want sending under a lease", d.ID, d.State, d.LeaseUntil)
		}
	}
	run(t, h.outbox(outbox.Config{Workers: 2}))
	if got := h.waitDone(m.ID, 20*time.Second); got.Counts.Sent != 5 {
		t.Errorf("after restart %+v, want 5 sent", got.Counts)
	}
	h.assertExactlyOne()
}

// Six times the process dies after claiming a delivery (WeChat slow, no
// answer recorded); then WeChat answers -1 once. Those six attempts never
// got an answer and do not count: the delivery is retrying, not failed.
func TestOutbox_CrashesDoNotUseUpAttempts(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 1)
	ctx := context.Background()
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	for i := range 6 {
		if i > 0 {
			if _, err := h.st.ResumeInterrupted(ctx, time.Now()); err != nil { // what a start does
				t.Fatal(err)
			}
		}
		ds, err := h.st.ClaimDue(ctx, time.Now(), 10, nil)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim %d: %v, %v", i+1, ds, err)
		}
		// Crash: the database is closed with the claim unrecorded.
		h.st.Close()
		if h.st, err = store.Open(ctx, h.dbPath); err != nil {
			t.Fatal(err)
		}
	}
	h.sb.SetFaults(sandbox.Faults{ErrorRate: 1}) // every send: -1 system busy
	run(t, h.outbox(outbox.Config{Workers: 1, MaxAttempts: 6, BaseBackoff: time.Hour, MaxBackoff: time.Hour}))
	var d store.Delivery
	waitFor(t, "the -1 answer to be recorded", 10*time.Second, func() bool {
		d = h.deliveries(m.ID)[0]
		return d.State != store.StateSending && d.State != store.StateQueued && d.Attempts > 0
	})
	if d.State != store.StateRetrying || d.Attempts != 1 || d.ErrCode != -1 {
		t.Errorf("after six crashes and one -1: %s, %d attempts, errcode %d; want retrying after 1 attempt",
			d.State, d.Attempts, d.ErrCode)
	}
}

// badGateway is a WeChat behind a gateway that, for the first send to each
// openid, passes the request on (WeChat delivers it) and then answers 502:
// the sender cannot know the message arrived.
type badGateway struct {
	next  http.Handler
	mu    sync.Mutex
	seen  map[string]int // "path touser" → calls
	ratio int            // fail the first `ratio` calls of each
}

func (g *badGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/cgi-bin/message/") {
		g.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var to struct {
		ToUser string `json:"touser"`
	}
	json.Unmarshal(body, &to)
	g.mu.Lock()
	key := r.URL.Path + " " + to.ToUser
	g.seen[key]++
	n := g.seen[key]
	g.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if n > g.ratio {
		g.next.ServeHTTP(w, r)
		return
	}
	g.next.ServeHTTP(httptest.NewRecorder(), r) // WeChat acts on it …
	http.Error(w, "bad gateway", http.StatusBadGateway)
}

func (g *badGateway) calls(path, openid string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[path+" "+openid]
}

const (
	templatePath = "/cgi-bin/message/template/send"
	textPath     = "/cgi-bin/message/custom/send"
)

// A 502 after WeChat read the request: the text message may have arrived
// and has no de-duplication key, so it becomes unknown and is not sent
// again; the template message is resent with the same client_msg_id, which
// WeChat de-duplicates, and arrives once. An admin can then resend the
// unknown text.
func TestOutbox_AmbiguousAnswerTextUnknownTemplateResentOnce(t *testing.T) {
	gw := &badGateway{seen: map[string]int{}, ratio: 1}
	h := newHarnessWith(t, harnessOptions{users: 4, wrap: func(next http.Handler) http.Handler { gw.next = next; return gw }})
	texts, templates := h.users[:2], h.users[2:]
	h.openWindows(texts)
	id, data := h.freeTemplate()
	mx := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", UserIDs: ids(texts)})
	mt := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, UserIDs: ids(templates)})
	o := h.outbox(outbox.Config{Workers: 4})
	run(t, o)

	gotX := h.waitDone(mx.ID, 20*time.Second)
	gotT := h.waitDone(mt.ID, 20*time.Second)
	if want := (store.DeliveryCounts{Unknown: 2}); gotX.Counts != want {
		t.Errorf("text counts %+v, want %+v", gotX.Counts, want)
	}
	if want := (store.DeliveryCounts{Sent: 2}); gotT.Counts != want {
		t.Errorf("template counts %+v, want %+v", gotT.Counts, want)
	}
	for _, d := range h.deliveries(mx.ID) {
		if d.ErrMsg == "" || d.MaybeSentAt.IsZero() {
			t.Errorf("unknown text delivery %+v: want an explanation and MaybeSentAt", d)
		}
	}
	for _, u := range texts {
		if n := gw.calls(textPath, u.OpenID); n != 1 {
			t.Errorf("%s: text sent %d times, want once", u.Name, n)
		}
		if n := h.inboxCount(u.OpenID); n != 1 {
			t.Errorf("%s holds %d messages, want the 1 WeChat delivered", u.Name, n)
		}
	}
	for _, u := range templates {
		if n := gw.calls(templatePath, u.OpenID); n != 2 {
			t.Errorf("%s: template sent %d times, want 2 (the resend)", u.Name, n)
		}
		if n := h.inboxCount(u.OpenID); n != 1 {
			t.Errorf("%s holds %d messages, want exactly 1", u.Name, n)
		}
	}

	// The admin resends the unknown ones (and accepts a duplicate).
	n, err := h.st.ResendUnknown(context.Background(), mx.ID, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("ResendUnknown = %d, %v; want 2", n, err)
	}
	o.Notify()
	if got := h.waitDone(mx.ID, 20*time.Second); got.Counts.Sent != 2 {
		t.Errorf("after the resend: %+v, want 2 sent", got.Counts)
	}
	for _, u := range texts {
		if n := h.inboxCount(u.OpenID); n != 2 {
			t.Errorf("%s holds %d messages after the resend, want 2", u.Name, n)
		}
	}
}

// A template message whose earlier attempt may have been delivered is not
// resent once WeChat's de-duplication window is over: unknown.
func TestOutbox_TemplateResendPastTheDedupWindowIsUnknown(t *testing.T) {
	gw := &badGateway{seen: map[string]int{}, ratio: 1}
	h := newHarnessWith(t, harnessOptions{users: 1, wrap: func(next http.Handler) http.Handler { gw.next = next; return gw }})
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	var mu sync.Mutex
	var skew time.Duration
	o := h.outbox(outbox.Config{Workers: 1, BaseBackoff: time.Minute, MaxBackoff: time.Minute})
	o.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) })
	run(t, o)
	waitFor(t, "the ambiguous first attempt", 10*time.Second, func() bool {
		d := h.deliveries(m.ID)[0]
		return d.State == store.StateRetrying && !d.MaybeSentAt.IsZero()
	})
	// Eleven minutes pass, for us and for WeChat.
	mu.Lock()
	skew = 11 * time.Minute
	mu.Unlock()
	h.clock.Advance(11 * time.Minute)
	o.Notify()
	got := h.waitDone(m.ID, 10*time.Second)
	if want := (store.DeliveryCounts{Unknown: 1}); got.Counts != want {
		t.Errorf("counts %+v, want %+v", got.Counts, want)
	}
	if n := gw.calls(templatePath, h.users[0].OpenID); n != 1 {
		t.Errorf("template sent %d times, want once", n)
	}
	h.assertExactlyOne()
}

// A process dies with a text and a template message in flight. At the next
// start the text is unknown (it may have arrived) and is not sent again;
// the template message is sent (WeChat de-duplicates it).
func TestOutbox_CrashInFlightTextUnknownTemplateResent(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 2)
	ctx := context.Background()
	h.openWindows(h.users[:1])
	id, data := h.freeTemplate()
	mx := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", UserIDs: ids(h.users[:1])})
	mt := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, UserIDs: ids(h.users[1:])})
	ds, err := h.st.ClaimDue(ctx, time.Now(), 10, nil)
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %v, %v", ds, err)
	}
	for _, d := range ds {
		if d.Kind == store.KindText {
			if err := h.st.StartAttempt(ctx, d, time.Now()); err != nil { // the request is being written …
				t.Fatal(err)
			}
		}
	}
	h.st.Close() // … when the process dies
	if h.st, err = store.Open(ctx, h.dbPath); err != nil {
		t.Fatal(err)
	}
	run(t, h.outbox(outbox.Config{Workers: 2}))
	if got := h.waitDone(mx.ID, 10*time.Second); got.Counts != (store.DeliveryCounts{Unknown: 1}) {
		t.Errorf("text after the crash %+v, want unknown", got.Counts)
	}
	if got := h.waitDone(mt.ID, 10*time.Second); got.Counts != (store.DeliveryCounts{Sent: 1}) {
		t.Errorf("template after the crash %+v, want sent", got.Counts)
	}
	if n := h.inboxCount(h.users[0].OpenID); n != 0 {
		t.Errorf("the text was sent again after the crash (%d messages)", n)
	}
	if n := h.inboxCount(h.users[1].OpenID); n != 1 {
		t.Errorf("the template user holds %d messages, want 1", n)
	}
}

// While the outbox runs, its sweeper takes back deliveries whose lease
// expired (claimed by a process that died), with the same rules as a
// start: the text in flight is unknown, the template is queued again.
func TestOutbox_SweeperTakesBackExpiredLeasesWhileRunning(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 2)
	ctx := context.Background()
	h.openWindows(h.users[:1])
	o := h.outbox(outbox.Config{Workers: 2, Lease: time.Second, SweepInterval: 20 * time.Millisecond})
	// Paused, so that this outbox claims nothing itself.
	for _, k := range []string{store.KindText, store.KindTemplate} {
		o.PauseUntil(ctx, k, time.Now().Add(time.Hour))
	}
	run(t, o)
	id, data := h.freeTemplate()
	mx := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", UserIDs: ids(h.users[:1])})
	mt := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, UserIDs: ids(h.users[1:])})
	ds, err := h.st.ClaimDueFor(ctx, time.Now(), 50*time.Millisecond, 10, nil) // another process's claims
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %v, %v", ds, err)
	}
	for _, d := range ds {
		if d.Kind == store.KindText {
			if err := h.st.StartAttempt(ctx, d, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the sweeper", 10*time.Second, func() bool {
		return h.deliveries(mx.ID)[0].State != store.StateSending && h.deliveries(mt.ID)[0].State != store.StateSending
	})
	if d := h.deliveries(mx.ID)[0]; d.State != store.StateUnknown {
		t.Errorf("text taken back as %s, want unknown", d.State)
	}
	if d := h.deliveries(mt.ID)[0]; d.State != store.StateRetrying || d.MaybeSentAt.IsZero() {
		t.Errorf("template taken back as %s (MaybeSentAt %v), want retrying, maybe sent", d.State, d.MaybeSentAt)
	}
	if err := o.Resume(ctx, store.KindTemplate); err != nil {
		t.Fatal(err)
	}
	if got := h.waitDone(mt.ID, 10*time.Second); got.Counts.Sent != 1 {
		t.Errorf("template after resume %+v, want sent", got.Counts)
	}
	if n := h.inboxCount(h.users[0].OpenID); n != 0 {
		t.Errorf("the unknown text was sent (%d messages)", n)
	}
}

// A clear failure — the connection refused, nothing written — is retried
// as before, text included, and the message arrives once.
func TestOutbox_ConnectionRefusedIsRetried(t *testing.T) {
	h := newHarness(t, sandbox.Faults{}, 1)
	ctx := context.Background()
	h.openWindows(h.users)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) *httptest.Server {
		srv := httptest.NewUnstartedServer(h.sb)
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
		return srv
	}
	srv := serve(ln)
	// No keep-alive: a send on the token fetch's idle connection, which the
	// server closed, would fail after being written — EOF, maybe delivered
	// (Go cannot tell that race from a server that acted and hung up).
	h.client = &wechat.Client{AppID: appID, AppSecret: secret, APIBase: "http://" + addr,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	h.tokens = wechat.NewTokenManager(h.client, wechat.TokenOptions{})
	if _, err := h.tokens.Token(ctx); err != nil { // a token in hand: only the send meets the refusal
		t.Fatal(err)
	}
	srv.Close() // WeChat unreachable: connections refused

	m := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", All: true})
	run(t, h.outbox(outbox.Config{Workers: 1, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 1000}))
	var d store.Delivery
	deadline := time.Now().Add(20 * time.Second)
	for d = h.deliveries(m.ID)[0]; d.Attempts == 0 || !strings.Contains(d.ErrMsg, "refused"); d = h.deliveries(m.ID)[0] {
		if time.Now().After(deadline) {
			t.Fatalf("no refused attempt recorded: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d.State == store.StateUnknown || d.State == store.StateFailed || !d.MaybeSentAt.IsZero() {
		t.Fatalf("after a refused connection: %s (MaybeSentAt %v); want retrying, not maybe sent", d.State, d.MaybeSentAt)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	serve(ln)
	if got := h.waitDone(m.ID, 20*time.Second); got.Counts.Sent != 1 {
		t.Errorf("counts %+v, want sent", got.Counts)
	}
	h.assertExactlyOne()
}

// The process is killed while a customer-service text is in flight:
// WeChat has delivered it but not answered, and no outcome can be
// written. At the next start the text is unknown, not sent again.
func TestOutbox_KilledMidTextSendLeavesItUnknown(t *testing.T) {
	var hung sync.Once
	h := newHarnessWith(t, harnessOptions{users: 1, wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			first := false
			if r.URL.Path == textPath {
				hung.Do(func() { first = true })
			}
			if !first {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(httptest.NewRecorder(), r) // delivered …
			<-r.Context().Done()                      // … and never answered
		})
	}})
	h.openWindows(h.users)
	m := h.enqueue(service.SendRequest{Kind: store.KindText, Text: "你好", All: true})
	stop := run(t, h.outbox(outbox.Config{Workers: 1, DrainTimeout: -1, ResultTimeout: -1}))
	waitFor(t, "the delivery", 10*time.Second, func() bool { return h.sb.TotalDelivered() == 1 })
	// Kill: the database goes away under the outbox, then it stops.
	h.st.Close()
	stop()

	st, err := store.Open(context.Background(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	if d := h.deliveries(m.ID)[0]; d.State != store.StateSending {
		t.Fatalf("after the kill: %s; want it left sending, as a kill -9 would", d.State)
	}
	run(t, h.outbox(outbox.Config{Workers: 1}))
	if got := h.waitDone(m.ID, 10*time.Second); got.Counts != (store.DeliveryCounts{Unknown: 1}) {
		t.Errorf("counts after restart %+v, want unknown", got.Counts)
	}
	h.assertExactlyOne()
}

// A stop that cuts off a send WeChat received but did not answer records
// it at once, with no attempt counted: a text is unknown, a template is
// queued again and, after the restart, arrives once.
func TestOutbox_StopCuttingOffASendRecordsIt(t *testing.T) {
	for _, kind := range []string{store.KindText, store.KindTemplate} {
		t.Run(kind, func(t *testing.T) {
			var hung sync.Once
			h := newHarnessWith(t, harnessOptions{users: 1, wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					first := false
					if strings.HasPrefix(r.URL.Path, "/cgi-bin/message/") {
						hung.Do(func() { first = true })
					}
					if !first {
						next.ServeHTTP(w, r)
						return
					}
					next.ServeHTTP(httptest.NewRecorder(), r)
					<-r.Context().Done()
				})
			}})
			h.openWindows(h.users)
			req := service.SendRequest{Kind: store.KindText, Text: "你好", All: true}
			if kind == store.KindTemplate {
				id, data := h.freeTemplate()
				req = service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true}
			}
			m := h.enqueue(req)
			o := h.outbox(outbox.Config{Workers: 1, DrainTimeout: -1})
			stop := run(t, o)
			waitFor(t, "the delivery", 10*time.Second, func() bool { return h.sb.TotalDelivered() == 1 })
			stop()
			d := h.deliveries(m.ID)[0]
			want := map[string]string{store.KindText: store.StateUnknown, store.KindTemplate: store.StateRetrying}[kind]
			if d.State != want || d.Attempts != 0 || d.MaybeSentAt.IsZero() {
				t.Fatalf("after the stop: %s, %d attempts, MaybeSentAt %v; want %s, 0 attempts, maybe sent",
					d.State, d.Attempts, d.MaybeSentAt, want)
			}
			if o.Held() != 0 {
				t.Errorf("the stopped outbox still holds %d deliveries", o.Held())
			}
			run(t, h.outbox(outbox.Config{Workers: 1}))
			got := h.waitDone(m.ID, 10*time.Second)
			if kind == store.KindTemplate && got.Counts.Sent != 1 || kind == store.KindText && got.Counts.Unknown != 1 {
				t.Errorf("after the restart: %+v", got.Counts)
			}
			h.assertExactlyOne()
		})
	}
}

// A stop lets the send in flight finish but starts none of the claimed
// ones waiting for a worker: they are given back, no attempt counted.
func TestOutbox_StopStartsNothingMore(t *testing.T) {
	h := newHarness(t, sandbox.Faults{Latency: 300 * time.Millisecond}, 3)
	id, data := h.freeTemplate()
	m := h.enqueue(service.SendRequest{Kind: store.KindTemplate, TemplateID: id, Data: data, All: true})
	o := h.outbox(outbox.Config{Workers: 1})
	stop := run(t, o)
	waitFor(t, "one send in flight, the others claimed", 10*time.Second, func() bool {
		return o.InFlight() == 1 && o.Held() == 3
	})
	stop()
	if n := h.sb.TotalDelivered(); n != 1 {
		t.Errorf("%d messages delivered, want only the one in flight at the stop", n)
	}
	var sent, back int
	for _, d := range h.deliveries(m.ID) {
		switch {
		case d.State == store.StateSent:
			sent++
		case d.State == store.StateRetrying && d.Attempts == 0:
			back++
		default:
			t.Errorf("delivery %d after the stop: %s, %d attempts", d.ID, d.State, d.Attempts)
		}
	}
	if sent != 1 || back != 2 {
		t.Errorf("%d sent and %d given back, want 1 and 2", sent, back)
	}
}
