package store

import (
	"context"
	"encoding/json"
	"time"
)

// Received is a message as its recipient sees it in "my messages": one of
// their deliveries with what identifies the message.
type Received struct {
	DeliveryID int64
	MessageID  int64
	State      string
	Receipt    string
	Via        string
	Kind       string
	Title      string // the detail page's title; for messages without a page, see Fallback*
	Token      string // the detail page's token; "" when the message has none
	At         time.Time
	// Messages queued before detail pages existed: their text or template
	// values, to name them by.
	Body       string
	TemplateID string
	Data       map[string]string
}

// Received lists the messages delivered (or being delivered) to a user,
// newest first; beforeID > 0 pages (a delivery id from the previous page).
func (s *Store) Received(ctx context.Context, userID int64, limit int, beforeID int64) ([]Received, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT d.id, d.message_id, d.state, d.receipt, d.via, m.kind, COALESCE(p.title, ''), COALESCE(p.token, ''),
		        m.created_at, m.body, m.template_id, m.data
		 FROM deliveries d JOIN messages m ON m.id = d.message_id LEFT JOIN message_pages p ON p.message_id = m.id
		 WHERE d.user_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?`, userID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Received
	for rows.Next() {
		var r Received
		var at int64
		var data string
		if err := rows.Scan(&r.DeliveryID, &r.MessageID, &r.State, &r.Receipt, &r.Via, &r.Kind, &r.Title, &r.Token,
			&at, &r.Body, &r.TemplateID, &data); err != nil {
			return nil, err
		}
		r.At = fromMs(at)
		_ = json.Unmarshal([]byte(data), &r.Data)
		out = append(out, r)
	}
	return out, rows.Err()
}
