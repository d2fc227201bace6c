package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wxpush/wxpush/store"
)

// Config tunes the worker. Zero values take the defaults in brackets.
type Config struct {
	Concurrency  int           // endpoints sent to at once [4]
	Timeout      time.Duration // one request, answer included [10s]
	BaseBackoff  time.Duration // the first retry's delay; doubles each attempt, with jitter [30s]
	MaxBackoff   time.Duration // [1h]
	RetryFor     time.Duration // after an event's creation, stop retrying it [24h]
	PollInterval time.Duration // how often to look for due work without a Notify [5s]
	DrainTimeout time.Duration // on stop, how long attempts in flight may finish [5s]
	// HTTP sends the requests; nil: a client of its own that follows no
	// redirect and uses the environment's proxy settings, never the
	// WeChat proxy (WXPUSH_WECHAT_PROXY).
	HTTP *http.Client
	// Observer learns of every attempt (metrics); nil: nobody.
	Observer Observer
	// AfterAttempt is called once an attempt is recorded (tests wait on it).
	AfterAttempt func(store.WebhookAttempt)
}

// Observer learns of webhook attempts.
type Observer interface {
	WebhookAttempt(outcome string, statusCode int, latency time.Duration)
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 24 * time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.HTTP == nil {
		c.HTTP = NewHTTPClient(c.Timeout)
	}
}

// NewHTTPClient is the client webhooks are sent with: the environment's
// proxy (HTTPS_PROXY, NO_PROXY), never WeChat's, and no redirects
// followed — a 3xx answer is a failed attempt, so that a signed event is
// never replayed to a URL nobody registered.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Worker delivers pending webhook deliveries. Create it with New and
// start it with Run.
type Worker struct {
	store *store.Store
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	wake  chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool // endpoint ids with an attempt under way
	wg       sync.WaitGroup
}

// New returns a worker; Run starts it.
func New(st *store.Store, cfg Config, log *slog.Logger) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{store: st, cfg: cfg, log: log, now: time.Now, wake: make(chan struct{}, 1), inflight: map[int64]bool{}}
}

// SetClock replaces the worker's clock (tests).
func (w *Worker) SetClock(now func() time.Time) { w.now = now }

// Notify tells the worker deliveries were queued.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done. On stop it starts nothing more and lets
// attempts in flight finish for up to DrainTimeout; one cut off after that
// is not recorded, and its delivery is sent again at the next start
// (receivers de-duplicate by Wxpush-Delivery).
func (w *Worker) Run(ctx context.Context) error {
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			break
		}
		if _, err := w.dispatch(ctx, sendCtx); err != nil && ctx.Err() == nil {
			w.log.Error("webhooks: looking for due deliveries", "err", err)
		}
		wait := w.cfg.PollInterval
		if at, ok, err := w.store.NextWebhookDue(ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(w.now()), 10*time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-timer.C:
		}
	}
	drained := make(chan struct{})
	go func() { w.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(w.cfg.DrainTimeout):
		cancel()
		<-drained
	}
	return nil
}

// DeliverDue makes every attempt that is due now, waits for them, and goes
// on while that made more due (the next event of an endpoint that just
// succeeded); it returns how many attempts it made.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := w.dispatch(ctx, ctx)
		w.wg.Wait()
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// dispatch starts an attempt for each endpoint whose next delivery is due
// and that has none in flight, up to Concurrency at once.
func (w *Worker) dispatch(ctx, sendCtx context.Context) (int, error) {
	w.mu.Lock()
	free := w.cfg.Concurrency - len(w.inflight)
	skip := make(map[int64]bool, len(w.inflight))
	for id := range w.inflight {
		skip[id] = true
	}
	w.mu.Unlock()
	if free <= 0 {
		return 0, nil
	}
	jobs, err := w.store.DueWebhookJobs(ctx, w.now(), free, skip)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		w.mu.Lock()
		w.inflight[j.EndpointID] = true
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.attempt(sendCtx, j)
			w.mu.Lock()
			delete(w.inflight, j.EndpointID)
			w.mu.Unlock()
			w.Notify()
		}()
	}
	return len(jobs), nil
}

// eventBody is what every request carries.
type eventBody struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Body is the JSON a delivery of ev posts.
func Body(ev store.WebhookEvent) ([]byte, error) {
	return json.Marshal(eventBody{ID: ev.PublicID, Type: ev.Type, CreatedAt: ev.CreatedAt.UTC().Format(time.RFC3339), Data: ev.Data})
}

// attempt sends one delivery and records the outcome.
func (w *Worker) attempt(ctx context.Context, j store.WebhookJob) {
	deadline := j.CreatedAt.Add(w.cfg.RetryFor)
	start := w.now()
	if !start.Before(deadline) {
		// The retry period ended while the endpoint was disabled or
		// wxpush was stopped: give up without sending a stale event.
		w.record(ctx, store.WebhookAttempt{DeliveryID: j.DeliveryID, EndpointID: j.EndpointID, At: start,
			Error: fmt.Sprintf("超过 %s 仍未送达，已放弃", fmtDuration(w.cfg.RetryFor)), Outcome: store.AttemptFailed})
		return
	}
	a := store.WebhookAttempt{DeliveryID: j.DeliveryID, EndpointID: j.EndpointID, At: start}
	body, err := Body(j.Event)
	if err != nil {
		a.Error, a.Outcome = "事件无法编码: "+err.Error(), store.AttemptFailed
		w.record(ctx, a)
		return
	}
	code, err := w.post(ctx, j, body, start)
	if ctx.Err() != nil {
		return // stopped mid-send: sent again at the next start
	}
	a.Latency = w.now().Sub(start)
	a.StatusCode = code
	switch {
	case err == nil && code >= 200 && code <= 299:
		a.Outcome = store.AttemptSucceeded
	case err == nil && code == http.StatusGone:
		// The receiver says this endpoint is gone for good.
		a.Outcome = store.AttemptDisabled
	default:
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Error = fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
		}
		next := w.now().Add(w.backoff(j.Attempts + 1))
		if next.After(deadline) {
			a.Error += fmt.Sprintf("；超过 %s，已放弃", fmtDuration(w.cfg.RetryFor))
			a.Outcome = store.AttemptFailed
		} else {
			a.Outcome, a.NextAttemptAt = store.AttemptRetrying, next
		}
	}
	w.record(ctx, a)
}

func (w *Worker) record(ctx context.Context, a store.WebhookAttempt) {
	reason := ""
	if a.Outcome == store.AttemptDisabled {
		reason = "端点返回 410 Gone，已自动停用"
	}
	if err := w.store.RecordWebhookAttempt(context.WithoutCancel(ctx), a, reason); err != nil {
		w.log.Error("webhooks: recording an attempt (it will be made again)", "delivery", a.DeliveryID, "err", err)
		return
	}
	if a.Outcome == store.AttemptDisabled {
		w.log.Warn("webhooks: endpoint answered 410 Gone; disabled", "endpoint", a.EndpointID)
	}
	if w.cfg.Observer != nil {
		w.cfg.Observer.WebhookAttempt(a.Outcome, a.StatusCode, a.Latency)
	}
	if w.cfg.AfterAttempt != nil {
		w.cfg.AfterAttempt(a)
	}
}

// post sends the signed request and returns the answer's status.
func (w *Worker) post(ctx context.Context, j store.WebhookJob, body []byte, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("无效的 URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wxpush-webhooks/1")
	req.Header.Set(HeaderEvent, j.Event.Type)
	req.Header.Set(HeaderDelivery, j.Event.PublicID)
	req.Header.Set(HeaderSignature, SignatureHeader(now.Unix(), body, j.Secrets...))
	resp, err := w.cfg.HTTP.Do(req)
	if err != nil {
		// *url.Error quotes the URL, whose query may hold the receiver's
		// own token: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%s 内没有应答", fmtDuration(w.cfg.Timeout))
		}
		return 0, err
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// backoff is exponential with jitter: base·2^(n-1), capped, then a random
// point in its upper half, so that endpoints down together do not retry in
// step.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.BaseBackoff << min(attempt-1, 20)
	if d > w.cfg.MaxBackoff || d <= 0 {
		d = w.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d 小时", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d 分钟", d/time.Minute)
	}
	return d.String()
}
