// Package outbox delivers queued messages to WeChat: it claims due
// deliveries from the store, sends them — as many at once as an AIMD
// limiter finds WeChat takes (aimd.go) — and records each
// outcome — retrying transient failures with backoff, failing permanent ones
// at once, pausing an API whose daily quota is used up, and marking unknown
// (结果未知) a delivery WeChat may have received without saying so, when
// sending it again could deliver it twice.
//
// What each kind of message is guaranteed:
//   - template message: delivered exactly once while WeChat's client_msg_id
//     de-duplication window (10 minutes) holds: every attempt carries the
//     same client_msg_id, and one whose earlier attempt may have reached
//     WeChat is resent only inside that window; past it, unknown.
//   - customer-service text (no de-duplication key): at most once. An
//     attempt that may have reached WeChat (a timeout or HTTP 5xx after the
//     request was written, a crash while it was in flight) is never repeated
//     automatically: the delivery becomes unknown.
//
// Attempts that got no answer (a crash, a stop that cut a send off) do not
// count against MaxAttempts. Outcomes are written until they land (retried
// while another connection holds SQLite's write lock), and a claimed
// delivery is leased: the lease is renewed while this outbox holds it, and
// a sweeper takes back an expired one while the outbox runs.
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
	// Workers is the number of sends in flight the outbox starts with and
	// never goes below [16]; from there an AIMD limiter (aimd.go) grows it
	// while WeChat answers in time and shrinks it on 45011, -1 and
	// timeouts, up to MaxInFlight.
	Workers int
	// MaxInFlight caps the sends in flight [256; at least Workers].
	MaxInFlight   int
	RatePerSecond float64       // sends started per second; 0 = unlimited
	MaxAttempts   int           // attempts before a transient failure becomes final [6]
	BaseBackoff   time.Duration // first retry delay; doubles each attempt, with jitter [2s]
	MaxBackoff    time.Duration // [10m]
	SendTimeout   time.Duration // one WeChat call [15s]
	DrainTimeout  time.Duration // on stop, how long in-flight sends may finish; negative = none [10s]
	PollInterval  time.Duration // how often to look for due work without a Notify [1s]
	// Lease is how long a claim holds without renewal; this outbox renews
	// the ones it holds every SweepInterval [SendTimeout + 30s].
	Lease time.Duration
	// SweepInterval: how often leases are renewed and expired ones (not
	// held by this outbox) taken back [Lease / 4].
	SweepInterval time.Duration
	// ResultTimeout: on stop, how long outcomes that cannot be written yet
	// (the database is locked) are retried; what is left is taken back after
	// its lease. Negative = none [10s].
	ResultTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	c.MaxInFlight = max(c.MaxInFlight, c.Workers)
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
	if c.Lease <= 0 {
		c.Lease = c.SendTimeout + 30*time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = c.Lease / 4
	}
	if c.ResultTimeout == 0 {
		c.ResultTimeout = 10 * time.Second
	}
}

// DedupWindow is how long WeChat de-duplicates template messages by
// openid + client_msg_id: "effective for 10 minutes, no guarantee after"
// (template message API page, client_msg_id).
const DedupWindow = 10 * time.Minute

// dedupMargin keeps resends clear of the window's end ("about 10 minutes").
const dedupMargin = time.Minute

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
	limiter *limiter // WXPUSH_RATE: sends started per second
	conc    *aimd    // sends in flight

	mu     sync.Mutex
	paused map[string]Pause
	msgs   map[int64]store.Message // message content cache; messages never change
	// fallbacks caches text messages' fallback templates (fallback.go).
	fallbacks map[int64]*store.Fallback

	// held: the deliveries this outbox has claimed and not yet recorded
	// an outcome for (or given up); their leases are renewed.
	heldMu sync.Mutex
	held   map[int64]struct{}

	inflight atomic.Int64
	sent     atomic.Int64
	finished rateMeter // final outcomes, for DeliveryRate
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
		conc:    newAIMD(cfg.Workers, cfg.MaxInFlight, time.Now),
		paused:  map[string]Pause{},
		msgs:    map[int64]store.Message{},

		fallbacks: map[int64]*store.Fallback{},
		held:      map[int64]struct{}{},
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
// message (docs/wechat.md §4): the same delivery resent after a crash is not delivered twice.
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

// InFlightLimit is how many sends the AIMD limiter lets be in flight now.
func (o *Outbox) InFlightLimit() int { return o.conc.Limit() }

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

// nextBeijingMidnight is when WeChat resets daily quotas (docs/wechat.md §6: midnight,
// Beijing time).
func nextBeijingMidnight(t time.Time) time.Time {
	bj := t.In(time.FixedZone("CST", 8*3600))
	y, m, d := bj.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, bj.Location())
}

// Run delivers until ctx is done. It first takes back the deliveries a
// crash or a hard stop left in state sending, and drops sends whose
// enqueue died half-way. On stop it claims and starts nothing more, lets
// in-flight sends finish for up to DrainTimeout, records what every
// claimed delivery came to (retrying result writes for up to
// ResultTimeout), and returns.
func (o *Outbox) Run(ctx context.Context) error {
	bg := context.WithoutCancel(ctx)
	if sw, err := o.store.ResumeInterrupted(bg, o.now()); err != nil {
		return fmt.Errorf("outbox: resume interrupted deliveries: %w", err)
	} else if sw.Requeued+sw.Unknown > 0 {
		o.log.Info("outbox: took back deliveries interrupted by a stop", "requeued", sw.Requeued, "unknown", sw.Unknown)
	}
	o.dropAbandoned(bg)
	o.loadPauses(ctx)

	// Sends use their own context so that stopping can let them finish.
	sendCtx, cancelSends := context.WithCancel(bg)
	defer cancelSends()
	// Buffered: the dispatcher claims the next batch while the launcher
	// still starts the last one, so slots do not sit idle during a claim.
	jobs := make(chan store.Delivery, o.cfg.MaxInFlight)
	results := make(chan store.Result, o.cfg.MaxInFlight*2)

	// The launcher starts a goroutine per send, as many at once as the
	// in-flight limiter allows.
	var sends sync.WaitGroup
	launcherDone := make(chan struct{})
	go func() {
		defer close(launcherDone)
		for d := range jobs {
			// WXPUSH_RATE first, so that a slot is held only while sending.
			if ctx.Err() != nil || o.limiter.wait(ctx) != nil || o.conc.acquire(ctx) != nil {
				// Stopping: start nothing more.
				results <- o.giveBack(d, o.now())
				continue
			}
			sends.Add(1)
			go func() {
				defer sends.Done()
				defer o.conc.release()
				if r, ok := o.deliver(sendCtx, d); ok {
					if r.State != store.StateRetrying {
						o.finished.add(o.now(), 1)
					}
					results <- r
				} else {
					o.release(d.ID)
				}
			}()
		}
	}()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		o.writeResults(results)
	}()

	o.dispatch(ctx, jobs, results)
	close(jobs)

	drained := make(chan struct{})
	go func() { <-launcherDone; sends.Wait(); close(drained) }()
	if o.cfg.DrainTimeout > 0 {
		select {
		case <-drained:
		case <-time.After(o.cfg.DrainTimeout):
			o.log.Warn("outbox: drain timeout; cutting off the sends still in flight")
		}
	}
	cancelSends()
	<-drained
	close(results)
	<-writerDone
	return nil
}

// hold notes deliveries just claimed; release forgets them.
func (o *Outbox) hold(ds []store.Delivery) {
	o.heldMu.Lock()
	for _, d := range ds {
		o.held[d.ID] = struct{}{}
	}
	o.heldMu.Unlock()
}

func (o *Outbox) release(ids ...int64) {
	o.heldMu.Lock()
	for _, id := range ids {
		delete(o.held, id)
	}
	o.heldMu.Unlock()
}

func (o *Outbox) heldIDs() []int64 {
	o.heldMu.Lock()
	defer o.heldMu.Unlock()
	ids := make([]int64, 0, len(o.held))
	for id := range o.held {
		ids = append(ids, id)
	}
	return ids
}

// Held is how many deliveries this outbox has claimed and not yet
// recorded an outcome for.
func (o *Outbox) Held() int {
	o.heldMu.Lock()
	defer o.heldMu.Unlock()
	return len(o.held)
}

// dispatch claims due deliveries and hands them to the workers until ctx
// is done.
func (o *Outbox) dispatch(ctx context.Context, jobs chan<- store.Delivery, results chan<- store.Result) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		// Claim about two limits' worth: enough to keep every slot busy
		// until the next claim, not so many that leases wait long.
		batch := max(o.conc.Limit()*2, 32)
		ds, err := o.store.ClaimDueFor(ctx, o.now(), o.cfg.Lease, batch, o.skipKinds())
		if err != nil {
			if ctx.Err() == nil {
				o.log.Error("outbox: claim", "err", err)
			}
			ds = nil
		}
		o.hold(ds)
		for i, d := range ds {
			select {
			case jobs <- d:
			case <-ctx.Done():
				// Claimed but not started: put them back now rather than
				// leaving them to the lease.
				for _, d := range ds[i:] {
					results <- o.giveBack(d, o.now())
				}
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

// giveBack is the result of a claim given back unsent: due again at next,
// the attempt not counted.
func (o *Outbox) giveBack(d store.Delivery, next time.Time) store.Result {
	return store.Result{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateRetrying, NextTry: next,
		Refund: true, At: o.now()}
}

// resultLinger is how long the result writer gathers outcomes after the
// first before writing them. Writing whatever was ready at once made about
// one transaction per 5 results in a 50-worker broadcast (~1,800 commits
// for 10,000 deliveries), each holding the write connection that ClaimDue
// also needs and a core that the sends need; 10 ms makes them ~30 per
// commit. The cost is that an outcome reaches the database up to 10 ms
// later (progress pages, and a crash's window for a resend).
const resultLinger = 10 * time.Millisecond

// maxResultsPerTx bounds one result-writing transaction.
const maxResultsPerTx = 256

// Result writes that fail (another connection holds SQLite's write lock
// past the busy timeout) are retried with a backoff between these bounds.
const (
	resultRetryMin = 50 * time.Millisecond
	resultRetryMax = 2 * time.Second
)

// writeResults stores outcomes in batches — one transaction per batch
// keeps SQLite's single writer far from being the bottleneck — retrying
// each until it lands: an outcome is never dropped, so no delivery stays
// sending while the outbox runs. Between batches it sweeps leases.
func (o *Outbox) writeResults(results <-chan store.Result) {
	bg := context.Background()
	buf := make([]store.Result, 0, maxResultsPerTx)
	// flush writes buf, a transaction per maxResultsPerTx; false when a
	// write failed (what was not written stays in buf).
	flush := func() bool {
		for len(buf) > 0 {
			n := min(len(buf), maxResultsPerTx)
			if err := o.store.RecordResults(bg, buf[:n]); err != nil {
				o.log.Error("outbox: recording results (retrying)", "count", len(buf), "err", err)
				return false
			}
			ids := make([]int64, n)
			for i, r := range buf[:n] {
				ids[i] = r.DeliveryID
			}
			o.release(ids...)
			buf = append(buf[:0], buf[n:]...)
		}
		return true
	}
	linger := time.NewTimer(resultLinger)
	linger.Stop()
	retry := time.NewTimer(resultRetryMin)
	retry.Stop()
	sweep := time.NewTicker(o.cfg.SweepInterval)
	defer sweep.Stop()
	var lingering, failing bool
	backoff := resultRetryMin
	// written flushes and, on failure, schedules the retry.
	written := func() bool {
		if flush() {
			failing, backoff = false, resultRetryMin
			return true
		}
		failing = true
		retry.Reset(backoff)
		backoff = min(2*backoff, resultRetryMax)
		return false
	}
	in := results
	var deadline <-chan time.Time
	for {
		select {
		case r, ok := <-in:
			if !ok {
				// Stopping: write what is left, retrying for up to ResultTimeout.
				in = nil
				linger.Stop()
				lingering = false
				if len(buf) == 0 || (!failing && written()) {
					return
				}
				if o.cfg.ResultTimeout < 0 {
					o.giveUp(len(buf))
					return
				}
				deadline = time.After(o.cfg.ResultTimeout)
				continue
			}
			buf = append(buf, r)
			switch {
			case failing:
				// The retry timer writes everything.
			case len(buf) >= maxResultsPerTx:
				linger.Stop()
				lingering = false
				written()
			case !lingering:
				// Take what arrives within resultLinger, then write.
				linger.Reset(resultLinger)
				lingering = true
			}
		case <-linger.C:
			lingering = false
			if !failing {
				written()
			}
		case <-retry.C:
			if written() && in == nil {
				return
			}
		case <-sweep.C:
			o.sweep()
		case <-deadline:
			o.giveUp(len(buf))
			return
		}
	}
}

func (o *Outbox) giveUp(n int) {
	o.log.Warn("outbox: stopping with outcomes not written (the database stayed locked); "+
		"their deliveries are taken back when their lease expires", "count", n)
}

// sweep renews the leases this outbox holds and takes back expired ones it
// does not hold (left by a process that died, or given up on a stop).
func (o *Outbox) sweep() {
	now := o.now()
	sw, err := o.store.Sweep(context.Background(), now, o.heldIDs(), now.Add(o.cfg.Lease))
	if err != nil {
		o.log.Error("outbox: sweeping leases", "err", err)
		return
	}
	if sw.Requeued+sw.Unknown > 0 {
		o.log.Warn("outbox: took back deliveries whose lease expired", "requeued", sw.Requeued, "unknown", sw.Unknown)
		o.Notify()
	}
	o.dropAbandoned(context.Background())
}

func (o *Outbox) dropAbandoned(ctx context.Context) {
	if n, err := o.store.DropAbandonedEnqueues(ctx); err != nil {
		o.log.Error("outbox: dropping abandoned sends", "err", err)
	} else if n > 0 {
		o.log.Warn("outbox: dropped sends whose enqueue stopped half-way", "count", n)
	}
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

// Messages shown with unknown deliveries (结果未知), for admins.
const (
	unknownTextMsg = "请求已发给微信，但没有收到明确答复（%v），无法确定是否已送达；" +
		"客服消息没有去重标识，为避免重复不会自动重发。"
	unknownWindowMsg = "之前的发送没有收到微信的明确答复，且已超出微信 client_msg_id 的 10 分钟去重时限，" +
		"重发可能造成重复，因此不会自动重发。"
	unknownGaveUpMsg = "多次重试未成功，其中有一次发送没有收到微信的明确答复，无法确定是否已送达（最后一次：%s）。"
	unknownCutOffMsg = "发送过程中服务停止，没有收到微信的答复，无法确定是否已送达；为避免重复不会自动重发。"
)

// deliver makes one attempt. ok is false when the delivery is no longer
// this outbox's to record (its claim was lost).
func (o *Outbox) deliver(ctx context.Context, d store.Delivery) (store.Result, bool) {
	o.inflight.Add(1)
	defer o.inflight.Add(-1)
	if until := o.pausedUntil(d.Kind); !until.IsZero() {
		return o.giveBack(d, until), true
	}
	m, err := o.message(ctx, d.MessageID)
	if err != nil {
		if ctx.Err() != nil {
			return o.giveBack(d, o.now()), true
		}
		return store.Result{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateFailed,
			ErrMsg: "读取消息失败: " + err.Error(), At: o.now()}, true
	}
	var msgID int64
	var via string
	switch d.Kind {
	case store.KindTemplate:
		if !d.MaybeSentAt.IsZero() && !o.insideDedupWindow(d.MaybeSentAt) {
			// An earlier attempt may have been delivered, and WeChat would
			// no longer recognise the resend as the same message.
			return store.Result{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, State: store.StateUnknown,
				ErrMsg: unknownWindowMsg, Refund: true, At: o.now()}, true
		}
		sctx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
		start := time.Now()
		msgID, err = o.sender.SendTemplate(sctx, wechat.TemplateMessage{
			ToUser: d.OpenID, TemplateID: m.TemplateID, URL: m.URL, Data: m.Data, ClientMsgID: ClientMsgID(d.ID),
		})
		cancel()
		if ctx.Err() == nil {
			o.conc.observe(time.Since(start), err)
		}
	default:
		// No de-duplication key: record that the request may be written
		// from now on, so that a crash makes the delivery unknown rather
		// than sends it again. (A fallback to the template carries one,
		// but which way it goes is decided inside sendText.)
		if err := o.store.StartAttempt(ctx, d, o.now()); err != nil {
			if errors.Is(err, store.ErrClaimLost) {
				return store.Result{}, false
			}
			o.log.Warn("outbox: recording a send's start; not sending it now", "delivery", d.ID, "err", err)
			return o.giveBack(d, o.now().Add(o.cfg.BaseBackoff)), true
		}
		sctx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
		start := time.Now()
		msgID, via, err = o.sendText(sctx, d, m)
		cancel()
		if ctx.Err() == nil {
			o.conc.observe(time.Since(start), err)
		}
	}
	if err != nil && ctx.Err() != nil {
		return o.cutOff(d, err), true
	}
	if via == store.ViaTemplate {
		d.Kind = store.KindTemplate // what failed (a quota pause, …) is the template API
	}
	r := o.classify(ctx, d, msgID, err)
	r.Via = via
	return r, true
}

// insideDedupWindow reports whether a template message first possibly
// delivered at since can still be resent now, and the resend reach WeChat,
// inside WeChat's de-duplication window.
func (o *Outbox) insideDedupWindow(since time.Time) bool {
	return o.now().Add(o.cfg.SendTimeout).Before(since.Add(DedupWindow - dedupMargin))
}

// cutOff is the outcome of a send a stop cut off: no answer, so the
// attempt does not count.
func (o *Outbox) cutOff(d store.Delivery, err error) store.Result {
	r := o.giveBack(d, o.now())
	r.ErrMsg = err.Error()
	if wechat.MaybeDelivered(err) {
		r.MaybeSent = true
		if d.Kind == store.KindText {
			r.State, r.ErrMsg = store.StateUnknown, unknownCutOffMsg
		}
	}
	return r
}

// classify turns a send's error into the delivery's next state.
func (o *Outbox) classify(ctx context.Context, d store.Delivery, msgID int64, err error) store.Result {
	now := o.now()
	r := store.Result{DeliveryID: d.ID, ClaimedAt: d.ClaimedAt, At: now}
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
			// 45009: stop calling this API until the quota resets (docs/wechat.md §6).
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
	if wechat.MaybeDelivered(err) {
		r.MaybeSent = true
		if d.Kind == store.KindText {
			r.State, r.ErrMsg = store.StateUnknown, fmt.Sprintf(unknownTextMsg, err)
			return r
		}
		// Template: the resend carries the same client_msg_id, which WeChat
		// de-duplicates (deliver checks the window before sending).
		return o.retry(d, r)
	}
	if wechat.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded) {
		return o.retry(d, r)
	}
	r.State = store.StateFailed
	return r
}

// retry schedules the next attempt, or gives up after MaxAttempts answered
// ones: failed, or unknown when some attempt may have been delivered.
func (o *Outbox) retry(d store.Delivery, r store.Result) store.Result {
	n := d.Attempts + 1 // this one
	if n >= o.cfg.MaxAttempts {
		if r.MaybeSent || !d.MaybeSentAt.IsZero() {
			r.State, r.ErrMsg = store.StateUnknown, fmt.Sprintf(unknownGaveUpMsg, r.ErrMsg)
			return r
		}
		r.State = store.StateFailed
		return r
	}
	r.State, r.NextTry = store.StateRetrying, r.At.Add(o.backoff(n))
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
