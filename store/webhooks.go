package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Webhook delivery states: pending until an attempt succeeds (2xx) or the
// worker gives up on it.
const (
	WebhookPending   = "pending"
	WebhookSucceeded = "succeeded"
	WebhookFailed    = "failed"
)

// Outcomes of one attempt, as the delivery log shows them.
const (
	AttemptSucceeded = "succeeded" // 2xx
	AttemptRetrying  = "retrying"  // another attempt is due at NextAttemptAt
	AttemptFailed    = "failed"    // given up: past the retry period
	AttemptDisabled  = "disabled"  // 410 Gone: the endpoint is disabled
)

// WebhookEndpoint is a URL that receives signed events.
type WebhookEndpoint struct {
	ID             int64
	PublicID       string // whk_…
	URL            string
	Events         []string
	Description    string
	CreatedBy      int64
	CreatedAt      time.Time
	OldSecretUntil time.Time // zero: no previous secret signs any more
	DisabledAt     time.Time // zero: enabled
	DisabledReason string
	Pending        int // deliveries waiting, filled by WebhookEndpoints and WebhookEndpoint
}

// Disabled reports whether the endpoint receives nothing.
func (e WebhookEndpoint) Disabled() bool { return !e.DisabledAt.IsZero() }

// WebhookEndpointPrefix starts the public id of an endpoint.
const WebhookEndpointPrefix = "whk_"

// CreateWebhookEndpoint stores a new endpoint with its signing secret.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint, secret string) (WebhookEndpoint, error) {
	e.PublicID = WebhookEndpointPrefix + RandomToken(20)
	e.CreatedAt = fromMs(s.nowMs())
	e.DisabledAt, e.DisabledReason, e.OldSecretUntil = time.Time{}, "", time.Time{}
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_endpoints(public_id, url, events, description, secret, created_by, created_at)
			 VALUES(?, ?, ?, ?, ?, ?, ?)`,
			e.PublicID, e.URL, strings.Join(e.Events, " "), e.Description, secret, nullID(e.CreatedBy), e.CreatedAt.UnixMilli())
		if err != nil {
			return err
		}
		e.ID, err = res.LastInsertId()
		s.widenSubscriptions(e.Events)
		return err
	})
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return e, nil
}

const webhookEndpointCols = `e.id, e.public_id, e.url, e.events, e.description, COALESCE(e.created_by, 0), e.created_at,
	COALESCE(e.old_secret_until, 0), COALESCE(e.disabled_at, 0), e.disabled_reason,
	(SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending')`

func scanWebhookEndpoint(row interface{ Scan(...any) error }) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	var events string
	var created, oldUntil, disabled int64
	err := row.Scan(&e.ID, &e.PublicID, &e.URL, &events, &e.Description, &e.CreatedBy, &created,
		&oldUntil, &disabled, &e.DisabledReason, &e.Pending)
	if errors.Is(err, sql.ErrNoRows) {
		return WebhookEndpoint{}, ErrNotFound
	}
	if err != nil {
		return WebhookEndpoint{}, err
	}
	e.Events = strings.Fields(events)
	e.CreatedAt = fromMs(created)
	if oldUntil != 0 {
		e.OldSecretUntil = fromMs(oldUntil)
	}
	if disabled != 0 {
		e.DisabledAt = fromMs(disabled)
	}
	return e, nil
}

// WebhookEndpoints lists every endpoint, oldest first.
func (s *Store) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+webhookEndpointCols+` FROM webhook_endpoints e ORDER BY e.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookEndpoint
	for rows.Next() {
		e, err := scanWebhookEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WebhookEndpoint returns the endpoint with that public id, or ErrNotFound.
func (s *Store) WebhookEndpoint(ctx context.Context, publicID string) (WebhookEndpoint, error) {
	return scanWebhookEndpoint(s.rdb.QueryRowContext(ctx,
		`SELECT `+webhookEndpointCols+` FROM webhook_endpoints e WHERE e.public_id = ?`, publicID))
}

// DeleteWebhookEndpoint removes an endpoint with its queue and log;
// ErrNotFound when there is none.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, publicID string) error {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE public_id = ?`, publicID)
	if err != nil {
		return err
	}
	s.reloadSubscriptions()
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RotateWebhookSecret makes secret the endpoint's signing key; the old one
// keeps signing too until graceUntil (a zero time drops it at once).
func (s *Store) RotateWebhookSecret(ctx context.Context, publicID, secret string, graceUntil time.Time) error {
	var until any
	if !graceUntil.IsZero() {
		until = graceUntil.UnixMilli()
	}
	res, err := s.wdb.ExecContext(ctx,
		`UPDATE webhook_endpoints SET old_secret = CASE WHEN ? IS NULL THEN NULL ELSE secret END,
		   old_secret_until = ?, secret = ? WHERE public_id = ?`, until, until, secret, publicID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetWebhookEndpointEnabled enables an endpoint, or disables it giving a
// reason. ErrNotFound when there is none.
func (s *Store) SetWebhookEndpointEnabled(ctx context.Context, publicID string, enabled bool, reason string) error {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		var res sql.Result
		var err error
		if enabled {
			var events string
			if err := tx.QueryRowContext(ctx, `SELECT events FROM webhook_endpoints WHERE public_id = ?`, publicID).Scan(&events); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return ErrNotFound
				}
				return err
			}
			s.widenSubscriptions(strings.Fields(events))
			res, err = tx.ExecContext(ctx,
				`UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = '' WHERE public_id = ?`, publicID)
		} else {
			res, err = tx.ExecContext(ctx,
				`UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, ?), disabled_reason = ? WHERE public_id = ?`,
				s.nowMs(), reason, publicID)
		}
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if !enabled {
		s.reloadSubscriptions()
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// QueueTestEvent queues a webhook.test event for one endpoint and returns
// the event's public id.
func (s *Store) QueueTestEvent(ctx context.Context, publicID string, data any) (string, error) {
	var pub string
	err := s.tx(ctx, func(tx *wtx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM webhook_endpoints WHERE public_id = ?`, publicID).Scan(&id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var err error
		pub, err = s.emitEvent(ctx, tx, EventTest, data, id)
		return err
	})
	return pub, err
}

// WebhookEvent is one event as its body carries it.
type WebhookEvent struct {
	PublicID  string
	Type      string
	Data      json.RawMessage
	CreatedAt time.Time
}

// WebhookJob is the next delivery of one endpoint, with what sending it needs.
type WebhookJob struct {
	DeliveryID int64
	EndpointID int64
	Attempts   int // made so far
	CreatedAt  time.Time
	Event      WebhookEvent
	URL        string
	Secrets    []string // the current secret first, then one still in its grace period
}

// DueWebhookJobs returns, for each enabled endpoint whose oldest pending
// delivery is due at now, that delivery — one per endpoint, so that an
// endpoint gets its events in the order they were created. Endpoints in
// skip (attempts in flight) are left out.
func (s *Store) DueWebhookJobs(ctx context.Context, now time.Time, limit int, skip map[int64]bool) ([]WebhookJob, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT d.id, d.endpoint_id, d.attempts, d.created_at, ev.public_id, ev.type, ev.data, ev.created_at,
		       e.url, e.secret, COALESCE(e.old_secret, ''), COALESCE(e.old_secret_until, 0)
		FROM (SELECT endpoint_id, min(id) AS id FROM webhook_deliveries WHERE state = 'pending' GROUP BY endpoint_id) h
		JOIN webhook_deliveries d ON d.id = h.id
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL
		JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.next_attempt_at <= ?
		ORDER BY d.next_attempt_at, d.id`, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookJob
	for rows.Next() {
		var j WebhookJob
		var created, evCreated, oldUntil int64
		var data, secret, old string
		if err := rows.Scan(&j.DeliveryID, &j.EndpointID, &j.Attempts, &created, &j.Event.PublicID, &j.Event.Type, &data,
			&evCreated, &j.URL, &secret, &old, &oldUntil); err != nil {
			return nil, err
		}
		if skip[j.EndpointID] {
			continue
		}
		j.CreatedAt, j.Event.CreatedAt = fromMs(created), fromMs(evCreated)
		j.Event.Data = json.RawMessage(data)
		j.Secrets = []string{secret}
		if old != "" && now.UnixMilli() < oldUntil {
			j.Secrets = append(j.Secrets, old)
		}
		out = append(out, j)
		if len(out) == limit {
			break
		}
	}
	return out, rows.Err()
}

// NextWebhookDue is when the earliest head of an enabled endpoint's queue
// is due; ok is false when nothing is pending.
func (s *Store) NextWebhookDue(ctx context.Context) (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	err = s.rdb.QueryRowContext(ctx, `
		SELECT min(d.next_attempt_at)
		FROM (SELECT endpoint_id, min(id) AS id FROM webhook_deliveries WHERE state = 'pending' GROUP BY endpoint_id) h
		JOIN webhook_deliveries d ON d.id = h.id
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL`).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, false, err
	}
	return fromMs(ms.Int64), true, nil
}

// WebhookAttempt is one attempt to deliver an event to an endpoint.
type WebhookAttempt struct {
	ID            int64
	DeliveryID    int64
	EndpointID    int64
	At            time.Time
	StatusCode    int // 0: no HTTP answer
	Latency       time.Duration
	Error         string
	Outcome       string    // AttemptSucceeded, …
	NextAttemptAt time.Time // AttemptRetrying: when
	// Filled by WebhookAttempts:
	EventID   string
	EventType string
	Attempt   int // the delivery's attempts so far
}

// RecordWebhookAttempt logs an attempt and moves its delivery on, in one
// transaction; AttemptDisabled also disables the endpoint (reason given).
func (s *Store) RecordWebhookAttempt(ctx context.Context, a WebhookAttempt, disableReason string) error {
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_attempts(delivery_id, endpoint_id, at, status_code, latency_ms, error, outcome)
			 VALUES(?, ?, ?, ?, ?, ?, ?)`,
			a.DeliveryID, a.EndpointID, a.At.UnixMilli(), a.StatusCode, a.Latency.Milliseconds(), a.Error, a.Outcome); err != nil {
			return err
		}
		var err error
		switch a.Outcome {
		case AttemptSucceeded, AttemptFailed:
			state := WebhookSucceeded
			if a.Outcome == AttemptFailed {
				state = WebhookFailed
			}
			_, err = tx.ExecContext(ctx,
				`UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, finished_at = ? WHERE id = ? AND state = 'pending'`,
				state, a.At.UnixMilli(), a.DeliveryID)
		case AttemptRetrying:
			_, err = tx.ExecContext(ctx,
				`UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND state = 'pending'`,
				a.NextAttemptAt.UnixMilli(), a.DeliveryID)
		case AttemptDisabled:
			// The delivery stays first in line: re-enabling the endpoint
			// resumes with it.
			if _, err = tx.ExecContext(ctx,
				`UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = ? AND state = 'pending'`, a.DeliveryID); err == nil {
				_, err = tx.ExecContext(ctx,
					`UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, ?), disabled_reason = ? WHERE id = ?`,
					a.At.UnixMilli(), disableReason, a.EndpointID)
			}
		default:
			err = errors.New("webhook attempt: unknown outcome " + a.Outcome)
		}
		return err
	})
	if a.Outcome == AttemptDisabled {
		s.reloadSubscriptions()
	}
	return err
}

// ExpireWebhookDelivery gives up on a delivery without an attempt (its
// retry period ended while the endpoint was disabled), logging why.
func (s *Store) ExpireWebhookDelivery(ctx context.Context, j WebhookJob, at time.Time, reason string) error {
	return s.RecordWebhookAttempt(ctx, WebhookAttempt{DeliveryID: j.DeliveryID, EndpointID: j.EndpointID, At: at,
		Error: reason, Outcome: AttemptFailed}, "")
}

// WebhookAttempts is an endpoint's delivery log, newest first.
func (s *Store) WebhookAttempts(ctx context.Context, endpointID int64, limit int) ([]WebhookAttempt, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT a.id, a.delivery_id, a.endpoint_id, a.at, a.status_code, a.latency_ms, a.error, a.outcome,
		       ev.public_id, ev.type,
		       (SELECT count(*) FROM webhook_attempts p WHERE p.delivery_id = a.delivery_id AND p.id <= a.id)
		FROM webhook_attempts a
		JOIN webhook_deliveries d ON d.id = a.delivery_id
		JOIN webhook_events ev ON ev.id = d.event_id
		WHERE a.endpoint_id = ? ORDER BY a.id DESC LIMIT ?`, endpointID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookAttempt
	for rows.Next() {
		var a WebhookAttempt
		var at, latency int64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.EndpointID, &at, &a.StatusCode, &latency, &a.Error, &a.Outcome,
			&a.EventID, &a.EventType, &a.Attempt); err != nil {
			return nil, err
		}
		a.At, a.Latency = fromMs(at), time.Duration(latency)*time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// WebhookQueue counts the pending webhook deliveries and the age of the
// oldest at now (metrics).
func (s *Store) WebhookQueue(ctx context.Context, now time.Time) (pending int, oldest time.Duration, err error) {
	var min sql.NullInt64
	err = s.rdb.QueryRowContext(ctx,
		`SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&pending, &min)
	if err == nil && min.Valid {
		oldest = now.Sub(fromMs(min.Int64))
	}
	return pending, oldest, err
}

// PruneWebhooks deletes events created before t whose deliveries are all
// finished (with their deliveries and attempts).
func (s *Store) PruneWebhooks(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteBatches(ctx, `DELETE FROM webhook_events WHERE id IN (SELECT ev.id FROM webhook_events ev
		WHERE ev.created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id AND d.state = 'pending')
		LIMIT ?)`, before.UnixMilli())
}
