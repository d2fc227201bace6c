package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message kinds.
const (
	KindText     = "text"     // customer-service text message (客服消息)
	KindTemplate = "template" // template message (模板消息)
)

// Delivery states. queued → sending → sent | retrying → … | failed |
// unknown.
const (
	StateQueued   = "queued"
	StateSending  = "sending"
	StateSent     = "sent"
	StateRetrying = "retrying"
	StateFailed   = "failed"
	// StateUnknown (结果未知): the message may have reached WeChat, but no
	// answer says whether it did (a timeout or HTTP 5xx after the request
	// was written, a crash while it was in flight, a template message whose
	// resend would fall outside WeChat's de-duplication window). Final: it
	// is not retried automatically, since a resend could deliver it twice;
	// an admin may resend it (ResendUnknown).
	StateUnknown = "unknown"
)

// Message is one send request to one or more recipients.
type Message struct {
	ID         int64
	Kind       string
	Body       string            // text messages
	TemplateID string            // template messages
	Data       map[string]string // template messages: placeholder → value
	URL        string            // template messages: optional link
	Source     string            // dashboard, cli, api, sendkey
	CreatedBy  int64             // user id; 0 when not a user
	Author     string            // that user's name, when loaded
	Total      int
	CreatedAt  time.Time
	Counts     DeliveryCounts // filled by Message and Messages
	Page       *Page          // enqueue: its detail page (pages.go); not loaded by reads
	TopicIDs   []int64        // enqueue: the topics it is sent to; not loaded by reads
	// Idempotency, when set on a message to enqueue, records the client's
	// key in the same transaction (ErrIdempotencyKeyTaken if another
	// request stored it first).
	Idempotency *IdempotencyKey
}

// DeliveryCounts counts a message's deliveries by state.
type DeliveryCounts struct {
	Queued, Sending, Sent, Retrying, Failed, Unknown int
}

// Pending is how many deliveries are not final yet.
func (c DeliveryCounts) Pending() int { return c.Queued + c.Sending + c.Retrying }

// Final is how many deliveries are final (sent, failed or unknown).
func (c DeliveryCounts) Final() int { return c.Sent + c.Failed + c.Unknown }

// Recipient is a bound user to deliver to.
type Recipient struct {
	UserID int64
	Name   string
	OpenID string
}

// Delivery is one recipient's copy of a message.
type Delivery struct {
	ID            int64
	MessageID     int64
	Kind          string
	UserID        int64
	UserName      string // DeletedUserName once the account is deleted
	OpenID        string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	ErrCode       int
	ErrMsg        string
	MsgID         int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        time.Time
	Receipt       string // ReceiptDelivered, ReceiptBlocked, ReceiptSysFailed or ""
	Via           string // how the last attempt went out: "" as Kind, or ViaTemplate (window.go)
	// MaybeSentAt is when the earliest attempt whose outcome is unknown was
	// claimed (zero: none): that attempt may have reached WeChat.
	MaybeSentAt time.Time
	// ClaimedAt and LeaseUntil: the current claim (state sending; ClaimDue).
	ClaimedAt  time.Time
	LeaseUntil time.Time
}

// EnqueueMessage stores m and one queued delivery per recipient: either the
// whole send is recorded or nothing is.
func (s *Store) EnqueueMessage(ctx context.Context, m Message, rcpts []Recipient) (Message, error) {
	return s.EnqueueAudited(ctx, m, rcpts, nil)
}

// EnqueueAudited is EnqueueMessage that also records, in the transaction
// that completes the send, the audit entry audit makes of the stored message
// (nil for none): one commit per send instead of two.
//
// A send to more than enqueueChunk recipients is written in several
// transactions (enqueue.go), so that none holds SQLite's write lock for
// long; the message stays invisible until the last one commits, and a
// failure removes what was written.
func (s *Store) EnqueueAudited(ctx context.Context, m Message, rcpts []Recipient, audit func(Message) AuditEntry) (Message, error) {
	if m.Kind != KindText && m.Kind != KindTemplate {
		return Message{}, fmt.Errorf("enqueue: unknown kind %q", m.Kind)
	}
	if len(rcpts) == 0 {
		return Message{}, errors.New("enqueue: no recipients")
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return Message{}, err
	}
	if m.Data == nil {
		data = []byte("{}")
	}
	now := s.nowMs()
	m.Total, m.CreatedAt = len(rcpts), fromMs(now)
	if len(rcpts) > enqueueChunk {
		return s.enqueueChunked(ctx, m, string(data), rcpts, audit, now)
	}
	write := s.tx
	if len(rcpts) <= 10 {
		// Small sends (API calls, personal push URLs) come many at a time:
		// commit them together. Broadcasts keep their own transaction.
		write = s.batched
	}
	err = write(ctx, func(tx *wtx) error {
		if err := checkRecipientsActive(ctx, tx, rcpts); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO messages(kind, body, template_id, data, url, source, created_by, total, created_at)
			 VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Kind, m.Body, m.TemplateID, string(data), m.URL, m.Source, nullID(m.CreatedBy), m.Total, now)
		if err != nil {
			return err
		}
		if m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if m.Idempotency != nil {
			if err := insertIdempotencyKey(ctx, tx, m, now); err != nil {
				return err
			}
		}
		if err := insertDeliveries(ctx, tx, m, rcpts, now); err != nil {
			return err
		}
		if err := insertExtras(ctx, tx, m); err != nil {
			return err
		}
		if audit != nil {
			return insertAudit(ctx, tx, audit(m), s.now())
		}
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	m.Counts = DeliveryCounts{Queued: m.Total}
	return m, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

const messageCols = `m.id, m.kind, m.body, m.template_id, m.data, m.url, m.source, COALESCE(m.created_by, 0),
	COALESCE(u.name, ''), m.total, m.created_at`

func scanMessage(row interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var data string
	var created int64
	err := row.Scan(&m.ID, &m.Kind, &m.Body, &m.TemplateID, &data, &m.URL, &m.Source, &m.CreatedBy, &m.Author, &m.Total, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, err
	}
	m.CreatedAt = fromMs(created)
	if err := json.Unmarshal([]byte(data), &m.Data); err != nil {
		return Message{}, fmt.Errorf("message %d data: %w", m.ID, err)
	}
	return m, nil
}

// MessageContent returns a message without its delivery counts (cheap; the
// outbox uses it). A message still being enqueued is ErrNotFound.
func (s *Store) MessageContent(ctx context.Context, id int64) (Message, error) {
	return scanMessage(s.rdb.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages m LEFT JOIN users u ON u.id = m.created_by
		 WHERE m.id = ? AND m.preparing_at IS NULL`, id))
}

// Message returns a message with its delivery counts, or ErrNotFound.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	m, err := s.MessageContent(ctx, id)
	if err != nil {
		return Message{}, err
	}
	m.Counts, err = s.counts(ctx, id)
	return m, err
}

func (s *Store) counts(ctx context.Context, id int64) (DeliveryCounts, error) {
	var c DeliveryCounts
	rows, err := s.rdb.QueryContext(ctx, `SELECT state, count(*) FROM deliveries WHERE message_id = ? GROUP BY state`, id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return c, err
		}
		c.add(st, n)
	}
	return c, rows.Err()
}

func (c *DeliveryCounts) add(state string, n int) {
	switch state {
	case StateQueued:
		c.Queued += n
	case StateSending:
		c.Sending += n
	case StateSent:
		c.Sent += n
	case StateRetrying:
		c.Retrying += n
	case StateFailed:
		c.Failed += n
	case StateUnknown:
		c.Unknown += n
	}
}

// Messages lists messages newest first, with counts; beforeID > 0 pages.
func (s *Store) Messages(ctx context.Context, limit int, beforeID int64) ([]Message, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+messageCols+` FROM messages m LEFT JOIN users u ON u.id = m.created_by
		 WHERE m.id < ? AND m.preparing_at IS NULL ORDER BY m.id DESC LIMIT ?`, beforeID, limit)
	if err != nil {
		return nil, err
	}
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// Every listed message's counts in one query, not one query each.
	idx := make(map[int64]int, len(out))
	for i, m := range out {
		idx[m.ID] = i
	}
	rows, err = s.rdb.QueryContext(ctx,
		`SELECT message_id, state, count(*) FROM deliveries WHERE message_id BETWEEN ? AND ?
		 GROUP BY message_id, state`, out[len(out)-1].ID, out[0].ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var st string
		var n int
		if err := rows.Scan(&id, &st, &n); err != nil {
			return nil, err
		}
		if i, ok := idx[id]; ok {
			out[i].Counts.add(st, n)
		}
	}
	return out, rows.Err()
}

const deliveryCols = `d.id, d.message_id, d.kind, COALESCE(d.user_id, 0), COALESCE(u.name, '` + DeletedUserName + `'), d.openid, d.state,
	d.attempts, d.next_attempt_at, d.errcode, d.errmsg, COALESCE(d.msgid, 0), d.created_at, d.updated_at, COALESCE(d.sent_at, 0),
	d.receipt, d.via, COALESCE(d.maybe_sent_at, 0), COALESCE(d.claimed_at, 0), COALESCE(d.lease_until, 0)`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var next, created, updated, sent, maybeSent, claimed, lease int64
	err := row.Scan(&d.ID, &d.MessageID, &d.Kind, &d.UserID, &d.UserName, &d.OpenID, &d.State,
		&d.Attempts, &next, &d.ErrCode, &d.ErrMsg, &d.MsgID, &created, &updated, &sent, &d.Receipt, &d.Via,
		&maybeSent, &claimed, &lease)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMs(next), fromMs(created), fromMs(updated)
	d.SentAt, d.MaybeSentAt, d.ClaimedAt, d.LeaseUntil = optMs(sent), optMs(maybeSent), optMs(claimed), optMs(lease)
	return d, nil
}

// Deliveries lists a message's deliveries (failed and unknown first, then
// by id).
func (s *Store) Deliveries(ctx context.Context, messageID int64) ([]Delivery, error) {
	return s.DeliveriesPage(ctx, messageID, -1)
}

// DeliveriesPage is Deliveries, at most limit of them (-1: all): the
// message page polls it every second, and a broadcast has thousands.
func (s *Store) DeliveriesPage(ctx context.Context, messageID int64, limit int) ([]Delivery, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+deliveryCols+` FROM deliveries d LEFT JOIN users u ON u.id = d.user_id
		 WHERE d.message_id = ? ORDER BY d.state NOT IN ('failed', 'unknown'), d.id LIMIT ?`, messageID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Delivery returns one delivery, or ErrNotFound.
func (s *Store) Delivery(ctx context.Context, id int64) (Delivery, error) {
	return scanDelivery(s.rdb.QueryRowContext(ctx,
		`SELECT `+deliveryCols+` FROM deliveries d LEFT JOIN users u ON u.id = d.user_id WHERE d.id = ?`, id))
}

// notPreparing excludes the deliveries of messages still being enqueued.
const notPreparing = `message_id NOT IN (SELECT id FROM messages WHERE preparing_at IS NOT NULL)`

// DefaultLease is the lease ClaimDue gives.
const DefaultLease = time.Minute

// ClaimDue is ClaimDueFor with DefaultLease.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, skip []string) ([]Delivery, error) {
	return s.ClaimDueFor(ctx, now, DefaultLease, limit, skip)
}

// ClaimDueFor marks up to limit deliveries that are due at now as sending,
// leased until now+lease, and returns them. Kinds in skip are paused and
// left alone, and so are messages still being enqueued. The claim does not
// count an attempt: RecordResults counts the attempts that got an answer.
// The claimer renews the leases it still holds (Sweep); an expired one is
// taken back.
func (s *Store) ClaimDueFor(ctx context.Context, now time.Time, lease time.Duration, limit int, skip []string) ([]Delivery, error) {
	q := `UPDATE deliveries SET state = 'sending', claimed_at = ?, lease_until = ?, started_at = NULL, updated_at = ?
	      WHERE id IN (SELECT id FROM deliveries WHERE state IN ('queued', 'retrying') AND next_attempt_at <= ?
	        AND ` + notPreparing
	ms := now.UnixMilli()
	args := []any{ms, now.Add(lease).UnixMilli(), ms, ms}
	// One fixed query text whatever skip holds (the statement cache).
	q += ` AND kind NOT IN (SELECT value FROM json_each(?))`
	args = append(args, jsonArray(skip))
	q += ` ORDER BY next_attempt_at, id LIMIT ?)
	      RETURNING id, message_id, kind, COALESCE(user_id, 0), openid, attempts, COALESCE(maybe_sent_at, 0)`
	args = append(args, limit)
	var out []Delivery
	err := s.tx(ctx, func(tx *wtx) error {
		out = out[:0] // a retried fn starts over
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d := Delivery{State: StateSending, ClaimedAt: fromMs(ms), LeaseUntil: fromMs(now.Add(lease).UnixMilli())}
			var maybeSent int64
			if err := rows.Scan(&d.ID, &d.MessageID, &d.Kind, &d.UserID, &d.OpenID, &d.Attempts, &maybeSent); err != nil {
				return err
			}
			d.MaybeSentAt = optMs(maybeSent)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// NextDue returns when the earliest queued or retrying delivery of a kind
// not in skip becomes due; ok is false when there is none.
func (s *Store) NextDue(ctx context.Context, skip []string) (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, nextDueSQL, jsonArray(skip)).Scan(&ms); err != nil {
		return time.Time{}, false, err
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return fromMs(ms.Int64), true, nil
}

const nextDueSQL = `SELECT min(next_attempt_at) FROM deliveries WHERE state IN ('queued', 'retrying')
	AND kind NOT IN (SELECT value FROM json_each(?)) AND ` + notPreparing

// Result is the outcome of one delivery attempt.
type Result struct {
	DeliveryID int64
	State      string // sent, retrying, failed or unknown
	ErrCode    int
	ErrMsg     string
	MsgID      int64
	NextTry    time.Time // retrying: when
	Refund     bool      // the attempt does not count (never sent, paused by quota, cut off unanswered)
	// MaybeSent: this attempt may have reached WeChat though no answer says
	// so. The delivery remembers the earliest such attempt (MaybeSentAt).
	MaybeSent bool
	// ClaimedAt, when set, is the claim this result belongs to (Delivery.
	// ClaimedAt): a result for a claim since taken back changes nothing.
	ClaimedAt time.Time
	At        time.Time
	Via       string // how the attempt went out: "" as the delivery's kind, or ViaTemplate
}

// RecordResults stores attempt outcomes in one transaction. Only deliveries
// still in state sending (under the result's claim, when it names one) are
// updated, so a late result cannot overwrite a newer state.
func (s *Store) RecordResults(ctx context.Context, rs []Result) error {
	if len(rs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *wtx) error {
		for _, r := range rs {
			var msgid any
			if r.MsgID != 0 {
				msgid = r.MsgID
			}
			next := r.At.UnixMilli()
			if r.State == StateRetrying {
				next = r.NextTry.UnixMilli()
			}
			counted := 1
			if r.Refund {
				counted = 0
			}
			var claimed int64
			if !r.ClaimedAt.IsZero() {
				claimed = r.ClaimedAt.UnixMilli()
			}
			if _, err := tx.ExecContext(ctx, recordResultSQL, r.State, r.ErrCode, r.ErrMsg, msgid, next, counted,
				r.At.UnixMilli(), r.State, r.At.UnixMilli(), r.MaybeSent, r.At.UnixMilli(), r.Via,
				r.DeliveryID, claimed, claimed); err != nil {
				return err
			}
		}
		if err := s.applyPendingReceipts(ctx, tx, rs); err != nil { // receipts that came first (receipts.go)
			return err
		}
		return s.resultEvents(ctx, tx, rs) // integrations: webhook events, metrics
	})
}

const recordResultSQL = `UPDATE deliveries SET state = ?, errcode = ?, errmsg = ?, msgid = COALESCE(?, msgid),
	  next_attempt_at = ?, attempts = attempts + ?, updated_at = ?,
	  sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
	  maybe_sent_at = CASE WHEN ? THEN COALESCE(maybe_sent_at, claimed_at, ?) ELSE maybe_sent_at END,
	  lease_until = NULL, started_at = NULL, via = ?
	WHERE id = ? AND state = 'sending' AND (? = 0 OR claimed_at = ?)`

// RetryFailed re-queues the failed deliveries of a message, afresh (an
// admin's decision, like ResendUnknown: attempts and any earlier unknown
// outcome forgotten). A broadcast's are updated a batch per transaction.
func (s *Store) RetryFailed(ctx context.Context, messageID int64, now time.Time) (int64, error) {
	return s.execBatches(ctx,
		`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?,
		   errcode = 0, errmsg = '', maybe_sent_at = NULL
		 WHERE id IN (SELECT id FROM deliveries WHERE message_id = ? AND state = 'failed'
		   AND openid <> '' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = deliveries.user_id AND u.disabled_at IS NOT NULL)
		   LIMIT ?)`,
		now.UnixMilli(), now.UnixMilli(), messageID)
}

// WakeKind makes every waiting delivery of a kind due now (an admin resumed
// a paused API), a batch per transaction.
func (s *Store) WakeKind(ctx context.Context, kind string, now time.Time) (int64, error) {
	return s.execBatches(ctx,
		`UPDATE deliveries SET next_attempt_at = ? WHERE id IN (SELECT id FROM deliveries
		   WHERE kind = ? AND state IN ('queued', 'retrying') AND next_attempt_at > ? LIMIT ?)`,
		now.UnixMilli(), kind, now.UnixMilli())
}

// DeliveryTotalsSince counts the pending and the failed deliveries of
// messages with id ≥ fromID (benchmarks and the CLI wait on it).
func (s *Store) DeliveryTotalsSince(ctx context.Context, fromID int64) (pending, failed int, err error) {
	err = s.rdb.QueryRowContext(ctx,
		`SELECT COALESCE(sum(state IN ('queued', 'sending', 'retrying')), 0), COALESCE(sum(state = 'failed'), 0)
		 FROM deliveries WHERE message_id >= ? AND `+notPreparing, fromID).Scan(&pending, &failed)
	return pending, failed, err
}

// DayCount is one day's deliveries by outcome.
type DayCount struct {
	Day       time.Time // midnight, Beijing time
	Delivered int       // WeChat confirmed (TEMPLATESENDJOBFINISH success)
	Sent      int       // accepted by WeChat, no receipt (yet)
	Failed    int       // failed, or WeChat reported it not delivered
	Unknown   int       // may have reached WeChat; nobody can tell (StateUnknown)
	Pending   int
}

// DeliveriesPerDay counts deliveries created in the last `days` days (Beijing
// days, today included), oldest first, one entry per day.
func (s *Store) DeliveriesPerDay(ctx context.Context, days int) ([]DayCount, error) {
	bj := time.FixedZone("CST", 8*3600)
	now := s.now().In(bj)
	first := time.Date(now.Year(), now.Month(), now.Day()-days+1, 0, 0, 0, 0, bj)
	out := make([]DayCount, days)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
	}
	const dayMs = 24 * 3600 * 1000
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT (created_at - ?) / ?, state, receipt, count(*) FROM deliveries WHERE created_at >= ? AND `+notPreparing+`
		 GROUP BY 1, 2, 3`, first.UnixMilli(), dayMs, first.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i, n int
		var state, receipt string
		if err := rows.Scan(&i, &state, &receipt, &n); err != nil {
			return nil, err
		}
		if i < 0 || i >= days {
			continue
		}
		d := &out[i]
		switch {
		case state == StateSent && receipt == ReceiptDelivered:
			d.Delivered += n
		case state == StateSent && receipt == "":
			d.Sent += n
		case state == StateSent || state == StateFailed:
			d.Failed += n
		case state == StateUnknown:
			d.Unknown += n
		default:
			d.Pending += n
		}
	}
	return out, rows.Err()
}
