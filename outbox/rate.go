package outbox

import (
	"sync"
	"time"
)

// rateWindow is how far back DeliveryRate looks.
const rateWindow = 30 * time.Second

// rateMeter counts events in one-second buckets over rateWindow.
type rateMeter struct {
	mu      sync.Mutex
	buckets [30]int64 // rateWindow / time.Second
	stamps  [30]int64 // the unix second each bucket counts
	started time.Time
}

func (m *rateMeter) add(now time.Time, n int64) {
	sec := now.Unix()
	i := int(sec % int64(len(m.buckets)))
	m.mu.Lock()
	if m.started.IsZero() {
		m.started = now
	}
	if m.stamps[i] != sec {
		m.stamps[i], m.buckets[i] = sec, 0
	}
	m.buckets[i] += n
	m.mu.Unlock()
}

// perSecond is the mean rate over the last rateWindow, or over the time
// since the first event when that is shorter (at least a second).
func (m *rateMeter) perSecond(now time.Time) float64 {
	sec := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started.IsZero() {
		return 0
	}
	var n int64
	for i, s := range m.stamps {
		if s > sec-int64(len(m.buckets)) && s <= sec {
			n += m.buckets[i]
		}
	}
	span := min(rateWindow, max(time.Second, now.Sub(m.started)))
	return float64(n) / span.Seconds()
}

// DeliveryRate is how many deliveries per second this outbox has brought
// to an end (sent, failed or unknown) over the last 30 seconds: the rate
// an ETA for the backlog can use. Zero when nothing has finished lately.
func (o *Outbox) DeliveryRate() float64 { return o.finished.perSecond(o.now()) }
