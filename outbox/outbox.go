// Package outbox delivers queued messages to WeChat: a pool of workers that
// claims due deliveries from the store, sends them, and records each
// outcome — retrying transient failures with backoff, failing permanent ones
// at once, and pausing an API whose daily quota is used up.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Sender sends one message to one openid. The WeChat implementation is
// WeChatSender; errors are wechat's typed errors.
type Sender interface {
	SendTemplate(ctx context.Context, m wechat.TemplateMessage) (msgID int64, err error)
	SendText(ctx context.Context, openid, content string) error
}

// Config tunes the outbox. Zero values take the defaults in brackets.
type Config struct {
	Workers       int           // concurrent sends [16]
	RatePerSecond float64       // sends started per second, all workers together; 0 = unlimited
	MaxAttempts   int           // attempts before a transient failure becomes final [6]
	BaseBackoff   time.Duration // first retry delay; doubles each attempt, with jitter [2s]
	MaxBackoff    time.Duration // [10m]
	SendTimeout   time.Duration // one WeChat call [15s]
	DrainTimeout  time.Duration // on stop, how long in-flight sends may finish; negative = none [10s]
	PollInterval  time.Duration // how often to look for due work without a Notify [1s]
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Minute
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 15 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
}

// Pause is an API (message kind) stopped until a time, after WeChat said
// its daily quota is used up (45009).
type Pause struct {
	Kind   string    `json:"kind"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Outbox is the delivery engine. Create it with New and start it with Run.
type Outbox struct {
	store  *store.Store
	sender Sender
	log    *slog.Logger
	cfg    Config
	now    func() time.Time

	wake    chan struct{}
	limiter *limiter

	mu     sync.Mutex
	paused map[string]Pause
	msgs   map[int64]store.Message // message content cache; messages never change
	// fallbacks caches text messages' fallback templates (fallback.go).
	fallbacks map[int64]*store.Fallback

	inflight atomic.Int64
	sent     atomic.Int64
}

// New returns an outbox; Run starts it.
func New(st *store.Store, sender Sender, cfg Config, log *slog.Logger) *Outbox {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{
		store: st, sender: sender, log: log, cfg: cfg, now: time.Now,
		wake:    make(chan struct{}, 1),
		limiter: newLimiter(cfg.RatePerSecond),
		paused:  map[string]Pause{},
		msgs:    map[int64]store.Message{},

		fallbacks: map[int64]*store.Fallback{},
	}
}

// SetClock replaces the outbox's clock (tests).
func (o *Outbox) SetClock(now func() time.Time) { o.now = now }

// Notify tells the outbox new work is queued, so it need not wait for its
// next poll.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// ClientMsgID is the de-duplication key sent with a delivery's template
// message (§4): the same delivery resent after a crash is not delivered twice.
func ClientMsgID(deliveryID int64) string { return "wxpush-" + strconv.FormatInt(deliveryID, 10) }

const pauseKey = "outbox_paused_"

// Paused lists the APIs currently paused.
func (o *Outbox) Paused() []Pause {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var out []Pause
	for _, k := range []string{store.KindTemplate, store.KindText} {
		if p, ok := o.paused[k]; ok && now.Before(p.Until) {
			out = append(out, p)
		}
	}
	return out
}

// InFlight is the number of sends under way.
func (o *Outbox) InFlight() int64 { return o.inflight.Load() }

// Resume lifts the pause of a kind (an admin did it, or WeChat's quota was
// reset) and makes its waiting deliveries due now.
func (o *Outbox) Resume(ctx context.Context, kind string) error {
	o.mu.Lock()
	delete(o.paused, kind)
	o.mu.Unlock()
	if err := o.store.SetSetting(ctx, pauseKey+kind, []byte("{}")); err != nil {
		return err
	}
	if _, err := o.store.WakeKind(ctx, kind, o.now()); err != nil {
		return err
	}
	o.log.Info("outbox resumed", "kind", kind)
	o.Notify()
	return nil
}

func (o *Outbox) pause(ctx context.Context, kind string, until time.Time, reason string) {
	o.mu.Lock()
	if p, ok := o.paused[kind]; ok && !p.Until.Before(until) {
		o.mu.Unlock()
		return
	}
	p := Pause{Kind: kind, Until: until, Reason: reason}
	o.paused[kind] = p
	o.mu.Unlock()
	b, _ := json.Marshal(p)
	if err := o.store.SetSetting(ctx, pauseKey+kind, b); err != nil {
		o.log.Error("outbox: saving pause", "err", err)
	}
	o.log.Warn("outbox paused: daily quota reached", "kind", kind, "until", until)
}

// pausedUntil returns when a kind's pause ends (zero when not paused).
func (o *Outbox) pausedUntil(kind string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.paused[kind]; ok && o.now().Before(p.Until) {
		return p.Until
	}
	return time.Time{}
}

func (o *Outbox) skipKinds() []string {
	var skip []string
	for _, p := range o.Paused() {
		skip = append(skip, p.Kind)
	}
	return skip
}

func (o *Outbox) loadPauses(ctx context.Context) {
	for _, k := range []string{store.KindTemplate, store.KindText} {
		b, err := o.store.Setting(ctx, pauseKey+k)
		if err != nil {
			continue
		}
		var p Pause
		if json.Unmarshal(b, &p) == nil && p.Kind == k && o.now().Before(p.Until) {
			o.mu.Lock()
			o.paused[k] = p
			o.mu.Unlock()
		}
	}
}

// nextBeijingMidnight is when WeChat resets daily quotas (§6: midnight,
// Beijing time).
func nextBeijingMidnight(t time.Time) time.Time {
	bj := t.In(time.FixedZone("CST", 8*3600))
	y, m, d := bj.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, bj.Location())
}

// Run delivers until ctx is done. It first re-queues deliveries a crash
// left in state sending. On stop it claims nothing more and lets in-flight
// sends finish for up to DrainTimeout; what is still in flight after that
// stays "sending" and is resumed by the next Run.
func (o *Outbox) Run(ctx context.Context) error {
	if n, err := o.store.ResumeInterrupted(context.WithoutCancel(ctx), o.now()); err != nil {
		return fmt.Errorf("outbox: resume interrupted deliveries: %w", err)
	} else if n > 0 {
		o.log.Info("outbox: resuming deliveries interrupted by a stop", "count", n)
	}
	o.loadPauses(ctx)

	// Sends use their own context so that stopping can let them finish.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	jobs := make(chan store.Delivery, o.cfg.Workers)
	results := make(chan store.Result, o.cfg.Workers*4)

	var workers sync.WaitGroup
	for range o.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for d := range jobs {
				if r, ok := o.deliver(sendCtx, d); ok {
					results <- r
				}
			}
		}()
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		o.writeResults(results)
	}()

	o.dispatch(ctx, jobs)
	close(jobs)

	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	if o.cfg.DrainTimeout > 0 {
		select {
		case <-drained:
		case <-time.After(o.cfg.DrainTimeout):
			o.log.Warn("outbox: drain timeout; unfinished sends resume at next start")
		}
	}
	cancelSends()
	<-drained
	close(results)
	<-writerDone
	return nil
}

// dispatch claims due deliveries and hands them to the workers until ctx
// is done.
func (o *Outbox) dispatch(ctx context.Context, jobs chan<- store.Delivery) {
	batch := max(o.cfg.Workers*2, 32)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		ds, err := o.store.ClaimDue(ctx, o.now(), batch, o.skipKinds())
		if err != nil {
			if ctx.Err() == nil {
				o.log.Error("outbox: claim", "err", err)
			}
			ds = nil
		}
		for i, d := range ds {
			select {
			case jobs <- d:
			case <-ctx.Done():
				// Claimed but not started: put them back now rather than
				// leaving them for the next start's resume.
				o.unclaim(ds[i:])
				return
			}
		}
		if len(ds) == batch {
			continue // more may be due right away
		}
		wait := o.cfg.PollInterval
		if at, ok, err := o.store.NextDue(ctx, o.skipKinds()); err == nil && ok {
			if d := at.Sub(o.now()); d < wait {
				wait = max(d, 5*time.Millisecond)
			}
		}
		if len(ds) > 0 {
			wait = min(wait, 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-timer.C:
		}
	}
}

func (o *Outbox) unclaim(ds []store.Delivery) {
	now := o.now()
	rs := make([]store.Result, len(ds))
	for i, d := range ds {
		rs[i] = store.Result{DeliveryID: d.ID, State: store.StateRetrying, NextTry: now, Refund: true, At: now}
	}
	if err := o.store.RecordResults(context.Background(), rs); err != nil {
		o.log.Error("outbox: unclaim", "err", err)
	}
}

// resultLinger is how long the result writer gathers outcomes after the
// first before writing them. Writing whatever was ready at once made about
// one transaction per 5 results in a 50-worker broadcast (~1,800 commits
// for 10,000 deliveries), each holding the write connection that ClaimDue
// also needs and a core that the sends need; 10 ms makes them ~30 per
// commit. The cost is that an outcome reaches the database up to 10 ms
// later (progress pages, and a crash's window for a resend).
const resultLinger = 10 * time.Millisecond

// writeResults stores outcomes in batches: one transaction per batch keeps
// SQLite's single writer far from being the bottleneck.
func (o *Outbox) writeResults(results <-chan store.Result) {
	buf := make([]store.Result, 0, 256)
	linger := time.NewTimer(resultLinger)
	linger.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if err := o.store.RecordResults(context.Background(), buf); err != nil {
			o.log.Error("outbox: recording results (those deliveries resume at next start)", "count", len(buf), "err", err)
		}
		buf = buf[:0]
	}
	for r := range results {
		buf = append(buf, r)
		// Take what arrives within resultLinger (or a full buffer), then write.
		linger.Reset(resultLinger)
	more:
		for len(buf) < cap(buf) {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				buf = append(buf, r)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		flush()
	}
	flush()
}

func (o *Outbox) message(ctx context.Context, id int64) (store.Message, error) {
	o.mu.Lock()
	m, ok := o.msgs[id]
	o.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := o.store.MessageContent(ctx, id)
	if err != nil {
		return m, err
	}
	o.mu.Lock()
	if len(o.msgs) > 1000 {
		clear(o.msgs)
	}
	o.msgs[id] = m
	o.mu.Unlock()
	return m, nil
}

// deliver makes one attempt. ok is false when the outcome must not be
// recorded (the send was cut off by a stop).
func (o *Outbox) deliver(ctx context.Context, d store.Delivery) (store.Result, bool) {
	o.inflight.Add(1)
	defer o.inflight.Add(-1)
	if until := o.pausedUntil(d.Kind); !until.IsZero() {
		return store.Result{DeliveryID: d.ID, State: store.StateRetrying, NextTry: until, Refund: true, At: o.now()}, true
	}
	if err := o.limiter.wait(ctx); err != nil {
		return store.Result{}, false
	}
	m, err := o.message(ctx, d.MessageID)
	if err != nil {
		if ctx.Err() != nil {
			return store.Result{}, false
		}
		return store.Result{DeliveryID: d.ID, State: store.StateFailed, ErrMsg: "读取消息失败: " + err.Error(), At: o.now()}, true
	}
	sctx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
	var msgID int64
	var via string
	switch d.Kind {
	case store.KindTemplate:
		msgID, err = o.sender.SendTemplate(sctx, wechat.TemplateMessage{
			ToUser: d.OpenID, TemplateID: m.TemplateID, URL: m.URL, Data: m.Data, ClientMsgID: ClientMsgID(d.ID),
		})
	default:
		msgID, via, err = o.sendText(sctx, d, m)
	}
	cancel()
	if ctx.Err() != nil && err != nil {
		return store.Result{}, false // stopped mid-send: resumed next start
	}
	if via == store.ViaTemplate {
		d.Kind = store.KindTemplate // what failed (a quota pause, …) is the template API
	}
	r := o.classify(ctx, d, msgID, err)
	r.Via = via
	return r, true
}

// classify turns a send's error into the delivery's next state.
func (o *Outbox) classify(ctx context.Context, d store.Delivery, msgID int64, err error) store.Result {
	now := o.now()
	r := store.Result{DeliveryID: d.ID, At: now}
	if err == nil {
		r.State, r.MsgID = store.StateSent, msgID
		o.sent.Add(1)
		return r
	}
	var we *wechat.Error
	if errors.As(err, &we) {
		r.ErrCode, r.ErrMsg = we.Code, we.Msg
		switch {
		case we.QuotaExceeded():
			// 45009: stop calling this API until the quota resets (§6).
			until := nextBeijingMidnight(now)
			o.pause(ctx, d.Kind, until, fmt.Sprintf("errcode %d: %s", we.Code, we.Msg))
			r.State, r.NextTry, r.Refund = store.StateRetrying, until, true
			return r
		case we.Code == 43004:
			// The user unfollowed: remember it for the dashboard.
			if err := o.store.SetFollowing(ctx, d.OpenID, false, now); err != nil {
				o.log.Warn("outbox: recording unfollow", "err", err)
			}
			r.State = store.StateFailed
			return r
		case we.Temporary(), we.TokenInvalid(), we.ConfigProblem():
			// Token errors are already retried once by the token manager;
			// configuration problems may be fixed by an admin meanwhile.
			return o.retry(d, r)
		default:
			r.State = store.StateFailed
			return r
		}
	}
	r.ErrMsg = err.Error()
	if wechat.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded) {
		return o.retry(d, r)
	}
	r.State = store.StateFailed
	return r
}

func (o *Outbox) retry(d store.Delivery, r store.Result) store.Result {
	if d.Attempts >= o.cfg.MaxAttempts {
		r.State = store.StateFailed
		return r
	}
	r.State, r.NextTry = store.StateRetrying, r.At.Add(o.backoff(d.Attempts))
	return r
}

// backoff is exponential with jitter: base·2^(n-1), capped, then a random
// point in its upper half, so that many failed sends don't retry in step.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.cfg.BaseBackoff << min(attempt-1, 20)
	if d > o.cfg.MaxBackoff || d <= 0 {
		d = o.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// Sent is the number of deliveries sent since the outbox started.
func (o *Outbox) Sent() int64 { return o.sent.Load() }
