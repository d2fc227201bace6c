package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Webhook event types (README, "Webhooks"). Each is written in the
// transaction of the change that causes it, so that an event exists if
// and only if its change committed.
const (
	EventBindingCreated   = "binding.created"
	EventBindingRemoved   = "binding.removed"
	EventUserFollowed     = "user.followed"
	EventUserUnfollowed   = "user.unfollowed"
	EventUserMessage      = "user.message"
	EventDeliveryFinished = "delivery.finished"
	EventMessageFinished  = "message.finished"
	// EventTest is sent by the "send test event" button to one endpoint,
	// whatever it subscribed to.
	EventTest = "webhook.test"
)

// WebhookEventTypes lists the event types an endpoint may subscribe to.
var WebhookEventTypes = []string{
	EventBindingCreated, EventBindingRemoved, EventUserFollowed, EventUserUnfollowed,
	EventUserMessage, EventDeliveryFinished, EventMessageFinished,
}

// Observer learns of changes once they are committed (the metrics).
// Its methods are called on the committing goroutine and must be quick.
type Observer interface {
	// DeliveryFinished: a delivery reached a final state (sent, failed,
	// unknown).
	DeliveryFinished(kind, state string)
	// DeliveryReceipt: WeChat's receipt for a sent template message
	// (ReceiptDelivered, ReceiptBlocked, ReceiptSysFailed).
	DeliveryReceipt(kind, receipt string)
	// InboundRecorded: a push from WeChat was recorded (not a retry).
	InboundRecorded(msgType, event string)
}

// hooks is the store's view of who listens: which event types some
// enabled webhook endpoint takes (so that a change nobody subscribed to
// costs no event row and no query) and the commit observers.
type hooks struct {
	mu sync.RWMutex
	// loaded: types holds at least every type an enabled endpoint takes.
	// It may hold more (it is widened before a new subscription commits
	// and narrowed only by a reload), never less.
	loaded bool
	types  map[string]bool

	notify   func()
	observer Observer
}

// SetWebhookNotify sets the function called after a transaction that
// queued webhook deliveries committed (the worker's wake-up).
func (s *Store) SetWebhookNotify(f func()) {
	s.hooks.mu.Lock()
	s.hooks.notify = f
	s.hooks.mu.Unlock()
}

// SetObserver sets who learns of committed deliveries and pushes (nil: nobody).
func (s *Store) SetObserver(o Observer) {
	s.hooks.mu.Lock()
	s.hooks.observer = o
	s.hooks.mu.Unlock()
}

func (s *Store) observer() Observer {
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	return s.hooks.observer
}

// wants reports whether some enabled endpoint may take events of typ.
// Called inside a write transaction, it reads the endpoints through tx
// when the cache is not loaded: writes are serialized, so that read is
// current.
func (s *Store) wants(ctx context.Context, tx *wtx, typ string) (bool, error) {
	s.hooks.mu.RLock()
	loaded, ok := s.hooks.loaded, s.hooks.types[typ]
	s.hooks.mu.RUnlock()
	if loaded {
		return ok, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT events FROM webhook_endpoints WHERE disabled_at IS NULL`)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	types := map[string]bool{}
	for rows.Next() {
		var ev string
		if err := rows.Scan(&ev); err != nil {
			return false, err
		}
		for _, t := range strings.Fields(ev) {
			types[t] = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	s.hooks.mu.Lock()
	s.hooks.types, s.hooks.loaded = types, true
	s.hooks.mu.Unlock()
	return types[typ], nil
}

// widenSubscriptions adds types to the cache; called inside the
// transaction that subscribes an endpoint, before it commits.
func (s *Store) widenSubscriptions(types []string) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if !s.hooks.loaded {
		return // the next wants reads the table
	}
	for _, t := range types {
		s.hooks.types[t] = true
	}
}

// reloadSubscriptions drops the cache; called after an unsubscribing
// transaction committed (until then the wider cache is merely slower).
func (s *Store) reloadSubscriptions() {
	s.hooks.mu.Lock()
	s.hooks.loaded = false
	s.hooks.mu.Unlock()
}

// emitEvent writes an event of typ with data and one pending delivery for
// every enabled endpoint subscribed to typ (or only for endpoint `only`,
// when non-zero, whatever it subscribed to), in tx. It returns the
// event's public id, "" when no endpoint takes it.
func (s *Store) emitEvent(ctx context.Context, tx *wtx, typ string, data any, only int64) (string, error) {
	var targets []int64
	if only != 0 {
		targets = []int64{only}
	} else {
		rows, err := tx.QueryContext(ctx, `SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL ORDER BY id`)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var id int64
			var ev string
			if err := rows.Scan(&id, &ev); err != nil {
				rows.Close()
				return "", err
			}
			if slices.Contains(strings.Fields(ev), typ) {
				targets = append(targets, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	if len(targets) == 0 {
		return "", nil
	}
	body, err := json.Marshal(data)
	if err != nil {
		return "", err
	}
	now := s.nowMs()
	pub := "evt_" + RandomToken(24)
	res, err := tx.ExecContext(ctx,
		`INSERT INTO webhook_events(public_id, type, data, created_at) VALUES(?, ?, ?, ?)`, pub, typ, string(body), now)
	if err != nil {
		return "", err
	}
	evID, err := res.LastInsertId()
	if err != nil {
		return "", err
	}
	for _, id := range targets {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_deliveries(event_id, endpoint_id, next_attempt_at, created_at) VALUES(?, ?, ?, ?)`,
			evID, id, now, now); err != nil {
			return "", err
		}
	}
	s.hooks.mu.RLock()
	notify := s.hooks.notify
	s.hooks.mu.RUnlock()
	if notify != nil {
		tx.afterCommit = append(tx.afterCommit, notify)
	}
	return pub, nil
}

// EventUser names a user in event data.
type EventUser struct {
	ID   string `json:"id"` // the user's public id
	Name string `json:"name"`
}

// eventUserByOpenID is the bound user of openid, nil when none.
func eventUserByOpenID(ctx context.Context, tx *wtx, openid string) (*EventUser, error) {
	var u EventUser
	err := tx.QueryRowContext(ctx,
		`SELECT u.public_id, u.name FROM bindings b JOIN users u ON u.id = b.user_id WHERE b.openid = ?`, openid).
		Scan(&u.ID, &u.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func eventTime(ms int64) string { return fromMs(ms).Format(time.RFC3339) }

// maskOpenID shortens an openid in event data the way the API shows it
// (wechat.MaskOpenID; the store does not import wechat).
func maskOpenID(openid string) string {
	if len(openid) <= 10 {
		return openid
	}
	return openid[:4] + "…" + openid[len(openid)-4:]
}

// bindingEvent writes binding.created or binding.removed for a user.
func (s *Store) bindingEvent(ctx context.Context, tx *wtx, typ string, userID int64, b Binding, atMs int64) error {
	if ok, err := s.wants(ctx, tx, typ); !ok || err != nil {
		return err
	}
	var u EventUser
	if err := tx.QueryRowContext(ctx, `SELECT public_id, name FROM users WHERE id = ?`, userID).Scan(&u.ID, &u.Name); err != nil {
		return err
	}
	data := map[string]any{"user": u, "openid": maskOpenID(b.OpenID)}
	if typ == EventBindingCreated {
		data["nickname"] = b.Nickname
		data["bound_at"] = eventTime(atMs)
	} else {
		data["unbound_at"] = eventTime(atMs)
	}
	_, err := s.emitEvent(ctx, tx, typ, data, 0)
	return err
}

// inboundEvents writes the webhook events of a recorded push (follow,
// unfollow, a text message, a template receipt) and tells the observer.
func (s *Store) inboundEvents(ctx context.Context, tx *wtx, in Inbound) error {
	if o := s.observer(); o != nil {
		tx.afterCommit = append(tx.afterCommit, func() { o.InboundRecorded(in.MsgType, in.Event) })
	}
	var typ string
	switch {
	case in.MsgType == "text":
		typ = EventUserMessage
	case in.MsgType == "event" && in.Event == "subscribe":
		typ = EventUserFollowed
	case in.MsgType == "event" && in.Event == "unsubscribe":
		typ = EventUserUnfollowed
	case in.MsgType == "event" && in.Event == "TEMPLATESENDJOBFINISH" && in.TemplateMsgID != 0:
		return s.receiptEvents(ctx, tx, in)
	default:
		return nil
	}
	if ok, err := s.wants(ctx, tx, typ); !ok || err != nil {
		return err
	}
	u, err := eventUserByOpenID(ctx, tx, in.OpenID)
	if err != nil {
		return err
	}
	data := map[string]any{"openid": maskOpenID(in.OpenID), "user": u, "at": in.CreatedAt.UTC().Format(time.RFC3339)}
	if typ == EventUserMessage {
		data["msg_type"] = in.MsgType
		data["content"] = in.Content
	}
	_, err = s.emitEvent(ctx, tx, typ, data, 0)
	return err
}

// finalStates are the delivery states after which the outbox is done with
// a delivery. "unknown" (WeChat may or may not have taken it) is named
// ahead of the state that introduces it.
var finalStates = map[string]bool{StateSent: true, StateFailed: true, "unknown": true}

// deliveryEventRow is what a delivery.finished event says.
type deliveryEventRow struct {
	MessageID int64
	Kind      string
	Attempts  int
	ErrCode   int
	ErrMsg    string
	OpenID    string
	UserID    string
	UserName  string
}

const deliveryEventCols = `d.id, d.message_id, d.kind, d.attempts, d.errcode, d.errmsg, d.openid,
	COALESCE(u.public_id, ''), COALESCE(u.name, '')`

func (r deliveryEventRow) data(id int64, state, receipt string) map[string]any {
	data := map[string]any{
		"delivery_id": id, "message_id": r.MessageID, "kind": r.Kind, "state": state,
		"errcode": r.ErrCode, "errmsg": r.ErrMsg, "attempts": r.Attempts, "openid": maskOpenID(r.OpenID), "user": nil,
	}
	if r.UserID != "" {
		data["user"] = EventUser{ID: r.UserID, Name: r.UserName}
	}
	if receipt != "" {
		data["receipt"] = receipt
	}
	return data
}

// resultEvents writes delivery.finished for every result that made a
// delivery final, and message.finished for every message that has no
// pending delivery left, in the transaction that records the results. A
// result counts only when it was applied: the delivery holds its state
// and time (RecordResults skips results for deliveries no longer sending).
func (s *Store) resultEvents(ctx context.Context, tx *wtx, rs []Result) error {
	obs := s.observer()
	wantD, err := s.wants(ctx, tx, EventDeliveryFinished)
	if err != nil {
		return err
	}
	wantM, err := s.wants(ctx, tx, EventMessageFinished)
	if err != nil {
		return err
	}
	if obs == nil && !wantD && !wantM {
		return nil
	}
	type final struct{ kind, state string }
	var finals []final
	var messages []int64
	for _, r := range rs {
		if !finalStates[r.State] {
			continue
		}
		var id int64
		var row deliveryEventRow
		err := tx.QueryRowContext(ctx, `SELECT `+deliveryEventCols+`
			FROM deliveries d LEFT JOIN users u ON u.id = d.user_id
			WHERE d.id = ? AND d.state = ? AND d.updated_at = ?`, r.DeliveryID, r.State, r.At.UnixMilli()).
			Scan(&id, &row.MessageID, &row.Kind, &row.Attempts, &row.ErrCode, &row.ErrMsg, &row.OpenID, &row.UserID, &row.UserName)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not applied
		}
		if err != nil {
			return err
		}
		finals = append(finals, final{row.Kind, r.State})
		if !slices.Contains(messages, row.MessageID) {
			messages = append(messages, row.MessageID)
		}
		if wantD {
			if _, err := s.emitEvent(ctx, tx, EventDeliveryFinished, row.data(id, r.State, ""), 0); err != nil {
				return err
			}
		}
	}
	if obs != nil && len(finals) > 0 {
		tx.afterCommit = append(tx.afterCommit, func() {
			for _, f := range finals {
				obs.DeliveryFinished(f.kind, f.state)
			}
		})
	}
	if !wantM {
		return nil
	}
	for _, id := range messages {
		if err := s.messageFinishedEvent(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// messageFinishedEvent writes message.finished when no delivery of the
// message is pending any more.
func (s *Store) messageFinishedEvent(ctx context.Context, tx *wtx, id int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT state, count(*) FROM deliveries WHERE message_id = ? GROUP BY state`, id)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	pending := 0
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return err
		}
		counts[st] = n
		if !finalStates[st] {
			pending += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || pending > 0 {
		return err
	}
	var kind, source string
	var total int
	var created int64
	if err := tx.QueryRowContext(ctx, `SELECT kind, source, total, created_at FROM messages WHERE id = ?`, id).
		Scan(&kind, &source, &total, &created); err != nil {
		return err
	}
	_, err = s.emitEvent(ctx, tx, EventMessageFinished, map[string]any{
		"message_id": id, "kind": kind, "source": source, "total": total, "created_at": eventTime(created),
		"counts": counts,
	}, 0)
	return err
}

// receiptEvents writes delivery.finished for the template delivery whose
// receipt WeChat just pushed: delivered, or failed (blocked by the user,
// or a system failure), with the receipt.
func (s *Store) receiptEvents(ctx context.Context, tx *wtx, in Inbound) error {
	obs := s.observer()
	want, err := s.wants(ctx, tx, EventDeliveryFinished)
	if err != nil || (!want && obs == nil) {
		return err
	}
	state := StateFailed
	if in.Receipt == ReceiptDelivered {
		state = "delivered"
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+deliveryEventCols+`
		FROM deliveries d LEFT JOIN users u ON u.id = d.user_id WHERE d.msgid = ? AND d.receipt = ?`, in.TemplateMsgID, in.Receipt)
	if err != nil {
		return err
	}
	type hit struct {
		id  int64
		row deliveryEventRow
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.id, &h.row.MessageID, &h.row.Kind, &h.row.Attempts, &h.row.ErrCode, &h.row.ErrMsg,
			&h.row.OpenID, &h.row.UserID, &h.row.UserName); err != nil {
			rows.Close()
			return err
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hits {
		if obs != nil {
			kind := h.row.Kind
			tx.afterCommit = append(tx.afterCommit, func() { obs.DeliveryReceipt(kind, in.Receipt) })
		}
		if want {
			if _, err := s.emitEvent(ctx, tx, EventDeliveryFinished, h.row.data(h.id, state, in.Receipt), 0); err != nil {
				return err
			}
		}
	}
	return nil
}
