package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// holds records the write transactions of a store: how many, and for how
// long each held the write lock. While off is set, it ignores them (the
// test's own writes from inside the hook).
type holds struct {
	mu    sync.Mutex
	n     int
	max   time.Duration
	after func(n int) // called after transaction n (1-based), outside mu
	off   bool
}

func (h *holds) install(s *Store) {
	s.txDone = func(d time.Duration) {
		h.mu.Lock()
		if h.off {
			h.mu.Unlock()
			return
		}
		h.n++
		n := h.n
		h.max = max(h.max, d)
		after := h.after
		h.mu.Unlock()
		if after != nil {
			h.mu.Lock()
			h.off = true
			h.mu.Unlock()
			defer func() { h.mu.Lock(); h.off = false; h.mu.Unlock() }()
			after(n)
		}
	}
}

func recipients(n int) []Recipient {
	rs := make([]Recipient, n)
	for i := range rs {
		rs[i] = Recipient{OpenID: fmt.Sprintf("openid-%06d", i)}
	}
	return rs
}

func audited(m Message) AuditEntry {
	return AuditEntry{Actor: "test", Action: "message.send", Target: fmt.Sprint(m.ID)}
}

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A large send is written in chunks, and until the last one commits nobody
// sees it: not the lists, not the outbox's claims.
func TestEnqueue_LargeSendIsChunkedAndInvisibleUntilComplete(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	n := 5*enqueueChunk + 7
	var h holds
	var seen []int // deliveries written after each transaction
	h.after = func(i int) {
		seen = append(seen, countRows(t, s, `SELECT count(*) FROM deliveries`))
		if i == 6 {
			return // the last: complete
		}
		if ms, err := s.Messages(ctx, 10, 0); err != nil || len(ms) != 0 {
			t.Errorf("after transaction %d: Messages = %d messages, %v; want none while preparing", i, len(ms), err)
		}
		if _, err := s.Message(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("after transaction %d: Message(1) = %v, want ErrNotFound", i, err)
		}
		if ds, err := s.ClaimDue(ctx, time.Now().Add(time.Hour), 10, nil); err != nil || len(ds) != 0 {
			t.Errorf("after transaction %d: ClaimDue claimed %d, %v; want nothing while preparing", i, len(ds), err)
		}
		if _, ok, err := s.NextDue(ctx, nil); err != nil || ok {
			t.Errorf("after transaction %d: NextDue ok=%v, %v; want nothing due", i, ok, err)
		}
		if p, _, err := s.DeliveryTotalsSince(ctx, 0); err != nil || p != 0 {
			t.Errorf("after transaction %d: DeliveryTotalsSince pending %d, %v; want 0", i, p, err)
		}
	}
	h.install(s)
	m, err := s.EnqueueAudited(ctx, Message{Kind: KindText, Body: "hi", Source: "cli"}, recipients(n), audited)
	if err != nil {
		t.Fatal(err)
	}
	s.txDone = nil
	if h.n != 6 {
		t.Errorf("%d write transactions for %d recipients, want 6 (chunks of %d)", h.n, n, enqueueChunk)
	}
	prev := 0
	for i, c := range seen {
		if c-prev > enqueueChunk {
			t.Errorf("transaction %d wrote %d deliveries, more than a chunk (%d)", i+1, c-prev, enqueueChunk)
		}
		prev = c
	}
	got, err := s.Message(ctx, m.ID)
	if err != nil || got.Total != n || got.Counts.Queued != n {
		t.Fatalf("after the enqueue: %+v, %v; want %d queued", got.Counts, err, n)
	}
	if a := countRows(t, s, `SELECT count(*) FROM audit_log`); a != 1 {
		t.Errorf("%d audit entries, want 1", a)
	}
	ds, err := s.ClaimDue(ctx, time.Now().Add(time.Hour), 10, nil)
	if err != nil || len(ds) != 10 {
		t.Errorf("ClaimDue after the enqueue: %d, %v; want 10", len(ds), err)
	}
	t.Logf("longest transaction: %v", h.max)
}

// An enqueue that fails half-way leaves nothing: no message, no
// deliveries, no audit entry.
func TestEnqueue_FailureHalfWayLeavesNothing(t *testing.T) {
	s, _ := openInternal(t)
	ctx, cancel := context.WithCancel(context.Background())
	var h holds
	h.after = func(i int) {
		if i == 2 {
			cancel() // the third chunk cannot begin
		}
	}
	h.install(s)
	_, err := s.EnqueueAudited(ctx, Message{Kind: KindText, Body: "hi", Source: "cli"}, recipients(4*enqueueChunk), audited)
	s.txDone = nil
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, q := range []string{`SELECT count(*) FROM messages`, `SELECT count(*) FROM deliveries`, `SELECT count(*) FROM audit_log`} {
		if n := countRows(t, s, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

// A process that dies half-way through an enqueue leaves a message nobody
// sees, and it is removed once abandoned — not while it may still be live.
func TestEnqueue_CrashHalfWayIsInvisibleThenDropped(t *testing.T) {
	s, _ := openInternal(t)
	c := time.Now()
	var cmu sync.Mutex
	s.SetClock(func() time.Time { cmu.Lock(); defer cmu.Unlock(); return c })
	ctx := context.Background()
	var h holds
	h.after = func(i int) {
		if i == 2 {
			runtime.Goexit() // the enqueue's goroutine dies: no cleanup runs
		}
	}
	h.install(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.EnqueueAudited(ctx, Message{Kind: KindTemplate, TemplateID: "t", Source: "cli"}, recipients(4*enqueueChunk), audited)
		t.Error("the enqueue returned; it should have died half-way")
	}()
	<-done
	s.txDone = nil
	if n := countRows(t, s, `SELECT count(*) FROM deliveries`); n != 2*enqueueChunk {
		t.Fatalf("%d deliveries written before the crash, want %d", n, 2*enqueueChunk)
	}
	if ms, _ := s.Messages(ctx, 10, 0); len(ms) != 0 {
		t.Errorf("the half-written message is listed")
	}
	if ds, _ := s.ClaimDue(ctx, c.Add(time.Hour), 10, nil); len(ds) != 0 {
		t.Errorf("ClaimDue claimed %d deliveries of the half-written message", len(ds))
	}
	// Within a minute it may be a live enqueue waiting for the lock: kept.
	if n, err := s.DropAbandonedEnqueues(ctx); err != nil || n != 0 {
		t.Fatalf("DropAbandonedEnqueues right after = %d, %v; want 0", n, err)
	}
	cmu.Lock()
	c = c.Add(2 * abandonedAfter)
	cmu.Unlock()
	if n, err := s.DropAbandonedEnqueues(ctx); err != nil || n != 1 {
		t.Fatalf("DropAbandonedEnqueues later = %d, %v; want 1", n, err)
	}
	for _, q := range []string{`SELECT count(*) FROM messages`, `SELECT count(*) FROM deliveries`, `SELECT count(*) FROM audit_log`} {
		if n := countRows(t, s, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

// If an enqueue stalls so long that it is taken for abandoned and removed,
// it fails rather than publish a message missing deliveries.
func TestEnqueue_RemovedAsAbandonedFailsTheEnqueue(t *testing.T) {
	s, _ := openInternal(t)
	c := time.Now()
	var cmu sync.Mutex
	s.SetClock(func() time.Time { cmu.Lock(); defer cmu.Unlock(); return c })
	ctx := context.Background()
	var h holds
	h.after = func(i int) {
		if i != 2 {
			return
		}
		cmu.Lock()
		c = c.Add(2 * abandonedAfter)
		cmu.Unlock()
		if n, err := s.DropAbandonedEnqueues(ctx); err != nil || n != 1 {
			t.Errorf("DropAbandonedEnqueues = %d, %v; want 1", n, err)
		}
	}
	h.install(s)
	_, err := s.EnqueueAudited(ctx, Message{Kind: KindText, Body: "hi", Source: "cli"}, recipients(4*enqueueChunk), audited)
	s.txDone = nil
	if err == nil {
		t.Fatal("the enqueue succeeded though its first chunks were removed")
	}
	for _, q := range []string{`SELECT count(*) FROM messages`, `SELECT count(*) FROM deliveries`, `SELECT count(*) FROM audit_log`} {
		if n := countRows(t, s, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

// BenchmarkEnqueue100k enqueues one message to 100,000 recipients and
// reports the longest time one of its transactions held SQLite's write
// lock (max-hold-ms; the bound is ~200 ms), how many transactions it took,
// and the whole enqueue's time.
func BenchmarkEnqueue100k(b *testing.B) {
	const n = 100_000
	rcpts := recipients(n)
	var maxHold time.Duration
	var txs int
	var total time.Duration
	for range b.N {
		b.StopTimer()
		s, err := Open(context.Background(), b.TempDir()+"/wxpush.db")
		if err != nil {
			b.Fatal(err)
		}
		var h holds
		h.install(s)
		b.StartTimer()
		start := time.Now()
		if _, err := s.EnqueueMessage(context.Background(), Message{Kind: KindTemplate, TemplateID: "t", Source: "cli"}, rcpts); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		maxHold, txs = max(maxHold, h.max), h.n
		s.Close()
	}
	b.ReportMetric(float64(maxHold.Microseconds())/1000, "max-hold-ms")
	b.ReportMetric(float64(txs), "transactions")
	b.ReportMetric(total.Seconds()/float64(b.N), "s/enqueue")
	b.ReportMetric(0, "ns/op")
}
