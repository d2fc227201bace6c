package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/webhooks"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// received is one request as the receiver saw it.
type received struct {
	Event, Delivery, Signature string
	Body                       []byte
	Parsed                     struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
}

// receiver is a site's webhook endpoint on loopback. answer decides the
// status of each request (nil: 200).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r received) int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{Event: r.Header.Get(webhooks.HeaderEvent), Delivery: r.Header.Get(webhooks.HeaderDelivery),
			Signature: r.Header.Get(webhooks.HeaderSignature), Body: body}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, &rec.Parsed); err != nil {
			t.Errorf("body is not JSON: %v\n%s", err, body)
		}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, rec)
		answer := rc.answer
		rc.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(n, rec)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// verify checks every request's signature with secret at now, its headers
// against its body, and returns the event types in arrival order.
func verify(t *testing.T, rs []received, secret string, now time.Time) []string {
	t.Helper()
	var types []string
	for _, r := range rs {
		if err := webhooks.Verify(r.Signature, r.Body, secret, webhooks.DefaultTolerance, now); err != nil {
			t.Errorf("%s %s: signature %q: %v", r.Event, r.Delivery, r.Signature, err)
		}
		if r.Event != r.Parsed.Type || r.Delivery != r.Parsed.ID || !strings.HasPrefix(r.Delivery, "evt_") {
			t.Errorf("headers %s/%s, body %s/%s", r.Event, r.Delivery, r.Parsed.Type, r.Parsed.ID)
		}
		var keys map[string]json.RawMessage
		json.Unmarshal(r.Body, &keys)
		if len(keys) != 4 || keys["created_at"] == nil || keys["data"] == nil {
			t.Errorf("body keys: %s", r.Body)
		}
		types = append(types, r.Parsed.Type)
	}
	return types
}

type env struct {
	st    *store.Store
	path  string
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "wxpush.db"), clock: &clock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}}
	e.open(t)
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	st, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	st.SetBcryptCost(bcrypt.MinCost)
	st.SetClock(e.clock.Now)
	e.st = st
	t.Cleanup(func() { st.Close() })
}

func (e *env) worker(cfg webhooks.Config) *webhooks.Worker {
	w := webhooks.New(e.st, cfg, nil)
	w.SetClock(e.clock.Now)
	return w
}

func (e *env) endpoint(t *testing.T, url, secret string, events ...string) store.WebhookEndpoint {
	t.Helper()
	ep, err := e.st.CreateWebhookEndpoint(context.Background(), store.WebhookEndpoint{URL: url, Events: events}, secret)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// follow records that openid followed the account (a user.followed event).
func (e *env) follow(t *testing.T, openid string) {
	t.Helper()
	if _, err := e.st.IngestInbound(context.Background(), store.Inbound{DedupKey: openid + e.clock.Now().String(),
		OpenID: openid, MsgType: "event", Event: "subscribe", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) say(t *testing.T, openid, text string) {
	t.Helper()
	if _, err := e.st.IngestInbound(context.Background(), store.Inbound{DedupKey: openid + text,
		OpenID: openid, MsgType: "text", Content: text, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

func deliverDue(t *testing.T, w *webhooks.Worker) int {
	t.Helper()
	n, err := w.DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWorker_DeliversSignedEventsOfEveryKindInOrder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rc := newReceiver(t)
	e.endpoint(t, rc.srv.URL+"/hook?token=site-own", "whsec_one", store.WebhookEventTypes...)
	u, _ := e.st.CreateUser(ctx, "alice", "pw-alice-123", false, true)
	tok, _, _ := e.st.NewBindToken(ctx, u.ID, time.Minute)
	if _, err := e.st.CompleteBinding(ctx, tok, store.Binding{OpenID: "o-alice-0000001"}); err != nil {
		t.Fatal(err)
	}
	e.follow(t, "o-alice-0000001")
	e.say(t, "o-alice-0000001", "退订")
	if _, err := e.st.IngestInbound(ctx, store.Inbound{DedupKey: "u", OpenID: "o-alice-0000001", MsgType: "event",
		Event: "unsubscribe", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	m, _ := e.st.EnqueueMessage(ctx, store.Message{Kind: store.KindTemplate, TemplateID: "t", Source: "api"},
		[]store.Recipient{{UserID: u.ID, OpenID: "o-alice-0000001"}})
	ds, _ := e.st.ClaimDue(ctx, e.clock.Now(), 1, nil)
	if err := e.st.RecordResults(ctx, []store.Result{{DeliveryID: ds[0].ID, State: store.StateSent, MsgID: 4242, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.IngestInbound(ctx, store.Inbound{DedupKey: "r", OpenID: "o-alice-0000001", MsgType: "event",
		Event: "TEMPLATESENDJOBFINISH", TemplateMsgID: 4242, Receipt: store.ReceiptDelivered, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Unbind(ctx, u.ID); err != nil {
		t.Fatal(err)
	}

	if n := deliverDue(t, e.worker(webhooks.Config{})); n != 8 {
		t.Fatalf("%d attempts, want 8", n)
	}
	rs := rc.requests()
	got := verify(t, rs, "whsec_one", e.clock.Now())
	want := []string{"binding.created", "user.followed", "user.message", "user.unfollowed",
		"delivery.finished", "message.finished", "delivery.finished", "binding.removed"}
	if !slices.Equal(got[:len(want)], want) || len(got) != 8 {
		t.Fatalf("received %v, want %v", got, want)
	}
	var receipt map[string]any
	json.Unmarshal(rs[6].Parsed.Data, &receipt)
	if receipt["state"] != "delivered" || receipt["receipt"] != "delivered" || receipt["message_id"] != float64(m.ID) {
		t.Errorf("receipt event data %v", receipt)
	}
	// A signature made with another secret, an edited body or an old
	// timestamp does not verify.
	r := rs[0]
	if webhooks.Verify(r.Signature, r.Body, "whsec_other", webhooks.DefaultTolerance, e.clock.Now()) == nil {
		t.Error("verified with the wrong secret")
	}
	if webhooks.Verify(r.Signature, append(slices.Clone(r.Body), ' '), "whsec_one", webhooks.DefaultTolerance, e.clock.Now()) == nil {
		t.Error("verified an edited body")
	}
	if webhooks.Verify(r.Signature, r.Body, "whsec_one", webhooks.DefaultTolerance, e.clock.Now().Add(6*time.Minute)) == nil {
		t.Error("verified a signature 6 minutes old")
	}
}

func TestWorker_FailingEndpointKeepsItsOrderAndDoesNotHoldUpOthers(t *testing.T) {
	e := newEnv(t)
	flaky, healthy := newReceiver(t), newReceiver(t)
	flaky.answer = func(n int, _ received) int {
		if n < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	f := e.endpoint(t, flaky.srv.URL, "whsec_f", store.EventUserFollowed)
	e.endpoint(t, healthy.srv.URL, "whsec_h", store.EventUserFollowed)
	for _, o := range []string{"o-first-0000001", "o-second-000001", "o-third-0000001"} {
		e.follow(t, o)
		e.clock.Advance(time.Second)
	}
	w := e.worker(webhooks.Config{BaseBackoff: time.Minute, MaxBackoff: time.Hour})
	deliverDue(t, w)
	if n := len(healthy.requests()); n != 3 {
		t.Fatalf("the healthy endpoint got %d events while the other failed, want 3", n)
	}
	if n := len(flaky.requests()); n != 1 {
		t.Fatalf("the failing endpoint got %d requests, want only its first event", n)
	}
	// Nothing more until the backoff is over, then the same first event.
	e.clock.Advance(29 * time.Second)
	if n := deliverDue(t, w); n != 0 {
		t.Fatalf("%d attempts before the first retry was due", n)
	}
	for range 2 {
		e.clock.Advance(2 * time.Minute)
		deliverDue(t, w)
	}
	rs := flaky.requests()
	verify(t, rs, "whsec_f", e.clock.Now())
	var ids, openids []string
	for _, r := range rs {
		ids = append(ids, r.Delivery)
		var d struct{ OpenID string }
		json.Unmarshal(r.Parsed.Data, &d)
		openids = append(openids, d.OpenID)
	}
	if len(rs) != 5 || ids[0] != ids[1] || ids[1] != ids[2] || ids[2] == ids[3] {
		t.Fatalf("deliveries %v: want the first event three times, then the others", ids)
	}
	if want := []string{"o-fi…0001", "o-fi…0001", "o-fi…0001", "o-se…0001", "o-th…0001"}; !slices.Equal(openids, want) {
		t.Fatalf("order %v, want %v", openids, want)
	}
	log, err := e.st.WebhookAttempts(context.Background(), f.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 5 || log[4].StatusCode != 503 || log[4].Outcome != store.AttemptRetrying || log[4].Attempt != 1 ||
		log[2].Outcome != store.AttemptSucceeded || log[2].StatusCode != 204 || log[2].Attempt != 3 {
		t.Fatalf("delivery log %+v", log)
	}
}

func TestWorker_RetriesSurviveARestart(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	var mu sync.Mutex
	up := false
	rc.answer = func(int, received) int {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusOK
		}
		return http.StatusBadGateway
	}
	e.endpoint(t, rc.srv.URL, "whsec_r", store.EventUserMessage)
	e.say(t, "o-alice-0000001", "在吗")

	// The first worker runs for real until its attempt is recorded, then stops mid-backoff.
	recorded := make(chan store.WebhookAttempt, 1)
	w1 := e.worker(webhooks.Config{BaseBackoff: time.Minute, AfterAttempt: func(a store.WebhookAttempt) { recorded <- a }})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w1.Run(ctx) }()
	a := <-recorded
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.Outcome != store.AttemptRetrying || a.StatusCode != http.StatusBadGateway || !a.NextAttemptAt.After(e.clock.Now()) {
		t.Fatalf("first attempt %+v", a)
	}
	e.st.Close()

	// A new process: the database reopened, a new worker.
	e.open(t)
	mu.Lock()
	up = true
	mu.Unlock()
	w2 := e.worker(webhooks.Config{BaseBackoff: time.Minute})
	if n := deliverDue(t, w2); n != 0 {
		t.Fatalf("the new worker sent %d before the retry was due", n)
	}
	e.clock.Advance(a.NextAttemptAt.Sub(e.clock.Now()))
	if n := deliverDue(t, w2); n != 1 {
		t.Fatalf("the new worker made %d attempts when the retry was due, want 1", n)
	}
	rs := rc.requests()
	verify(t, rs, "whsec_r", e.clock.Now())
	if len(rs) != 2 || rs[0].Delivery != rs[1].Delivery {
		t.Fatalf("requests %d; the retry must carry the same event id", len(rs))
	}
	if n, _, _ := e.st.WebhookQueue(context.Background(), e.clock.Now()); n != 0 {
		t.Fatalf("%d still pending", n)
	}
}

func TestWorker_410DisablesTheEndpoint(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	gone, other := newReceiver(t), newReceiver(t)
	gone.answer = func(int, received) int { return http.StatusGone }
	g := e.endpoint(t, gone.srv.URL, "whsec_g", store.EventUserMessage)
	e.endpoint(t, other.srv.URL, "whsec_o", store.EventUserMessage)
	e.say(t, "o-alice-0000001", "一")
	e.say(t, "o-alice-0000001", "二")
	w := e.worker(webhooks.Config{})
	deliverDue(t, w)
	e.say(t, "o-alice-0000001", "三")
	deliverDue(t, w)
	e.clock.Advance(25 * time.Hour)
	if n := len(gone.requests()); n != 1 {
		t.Fatalf("the endpoint that answered 410 got %d requests, want 1", n)
	}
	if n := len(other.requests()); n != 3 {
		t.Fatalf("the other endpoint got %d, want 3", n)
	}
	ep, err := e.st.WebhookEndpoint(ctx, g.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if !ep.Disabled() || !strings.Contains(ep.DisabledReason, "410") {
		t.Fatalf("endpoint after 410: disabled %v, reason %q", ep.Disabled(), ep.DisabledReason)
	}
	if ep.Pending != 2 {
		t.Fatalf("%d pending, want the two events queued before the 410 (none after)", ep.Pending)
	}
	// Re-enabled a day later: both are past the retry period, given up
	// without being sent.
	if err := e.st.SetWebhookEndpointEnabled(ctx, g.PublicID, true, ""); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, w)
	if n := len(gone.requests()); n != 1 {
		t.Fatalf("stale events were sent after re-enabling: %d requests", n)
	}
	log, _ := e.st.WebhookAttempts(ctx, g.ID, 10)
	if len(log) != 3 || log[2].Outcome != store.AttemptDisabled || log[2].StatusCode != 410 || log[0].Outcome != store.AttemptFailed {
		t.Fatalf("log %+v", log)
	}
}

func TestWorker_GivesUpAfterTheRetryPeriod(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.answer = func(int, received) int { return http.StatusInternalServerError }
	ep := e.endpoint(t, rc.srv.URL, "whsec_x", store.EventUserMessage)
	e.say(t, "o-alice-0000001", "一")
	w := e.worker(webhooks.Config{BaseBackoff: time.Minute, MaxBackoff: time.Hour})
	for range 40 {
		deliverDue(t, w)
		e.clock.Advance(time.Hour)
	}
	rs := rc.requests()
	if len(rs) < 10 || len(rs) > 30 {
		t.Fatalf("%d attempts in 40 hours", len(rs))
	}
	first, _ := time.Parse(time.RFC3339, rs[0].Parsed.CreatedAt)
	log, _ := e.st.WebhookAttempts(context.Background(), ep.ID, 1)
	if log[0].Outcome != store.AttemptFailed || log[0].At.Sub(first) > 24*time.Hour {
		t.Fatalf("last attempt %+v, %v after the event", log[0], log[0].At.Sub(first))
	}
	if n, _, _ := e.st.WebhookQueue(context.Background(), e.clock.Now()); n != 0 {
		t.Fatalf("%d still pending after giving up", n)
	}
}

func TestWorker_RotatedSecretSignsBesideTheNewOneDuringItsGrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.endpoint(t, rc.srv.URL, "whsec_old", store.EventUserMessage)
	if err := e.st.RotateWebhookSecret(ctx, ep.PublicID, "whsec_new", e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w := e.worker(webhooks.Config{})
	e.say(t, "o-alice-0000001", "一")
	deliverDue(t, w)
	e.clock.Advance(61 * time.Minute)
	e.say(t, "o-alice-0000001", "二")
	deliverDue(t, w)
	rs := rc.requests()
	if len(rs) != 2 {
		t.Fatalf("%d requests", len(rs))
	}
	if n := strings.Count(rs[0].Signature, "v1="); n != 2 {
		t.Fatalf("during the grace period: %q, want two v1", rs[0].Signature)
	}
	now := e.clock.Now().Add(-61 * time.Minute)
	for _, secret := range []string{"whsec_old", "whsec_new"} {
		if err := webhooks.Verify(rs[0].Signature, rs[0].Body, secret, webhooks.DefaultTolerance, now); err != nil {
			t.Errorf("%s does not verify during the grace period: %v", secret, err)
		}
	}
	if n := strings.Count(rs[1].Signature, "v1="); n != 1 {
		t.Fatalf("after the grace period: %q, want one v1", rs[1].Signature)
	}
	if webhooks.Verify(rs[1].Signature, rs[1].Body, "whsec_old", webhooks.DefaultTolerance, e.clock.Now()) == nil {
		t.Error("the old secret still verifies after its grace period")
	}
	verify(t, rs[1:], "whsec_new", e.clock.Now())
}

func TestSignatureHeader_IsHMACOfTimestampDotBody(t *testing.T) {
	// Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
	const want = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
	got := webhooks.SignatureHeader(1700000000, []byte(`{"a":1}`), "whsec_test")
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
