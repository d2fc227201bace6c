package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Content types of a message's whole content.
const (
	ContentText     = "text"
	ContentMarkdown = "markdown"
)

// Page is a message's detail page (/m/{token}): the whole content behind
// its card or text.
type Page struct {
	Token       string // random, unguessable: the page's only key
	Title       string
	Content     string
	ContentType string // ContentText or ContentMarkdown
	// Fallback is what a text message becomes for a recipient outside
	// WeChat's customer-service window; nil when it must not fall back.
	Fallback *Fallback
}

// Fallback is the template message a text message is sent as instead.
type Fallback struct {
	TemplateID string            `json:"template_id"`
	Data       map[string]string `json:"data"`
	URL        string            `json:"url"`
}

// MessagePage is a detail page with what it shows of its message.
type MessagePage struct {
	Page
	MessageID int64
	Kind      string
	CreatedAt time.Time
	Topics    []Topic // the topics the message was sent to
}

// insertExtras stores, inside the message's own transaction, its detail
// page and the topics it was sent to.
func insertExtras(ctx context.Context, tx *wtx, m Message) error {
	if p := m.Page; p != nil {
		fb := ""
		if p.Fallback != nil {
			b, err := json.Marshal(p.Fallback)
			if err != nil {
				return err
			}
			fb = string(b)
		}
		ct := p.ContentType
		if ct == "" {
			ct = ContentText
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO message_pages(message_id, token, title, content, content_type, fallback) VALUES(?, ?, ?, ?, ?, ?)`,
			m.ID, p.Token, p.Title, p.Content, ct, fb); err != nil {
			return fmt.Errorf("message page: %w", err)
		}
	}
	for _, id := range m.TopicIDs {
		if _, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO message_topics(message_id, topic_id) VALUES(?, ?)`, m.ID, id); err != nil {
			return err
		}
	}
	return nil
}

func scanPage(row interface{ Scan(...any) error }) (Page, error) {
	var p Page
	var fb string
	err := row.Scan(&p.Token, &p.Title, &p.Content, &p.ContentType, &fb)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	p.Fallback, err = parseFallback(fb)
	return p, err
}

func parseFallback(fb string) (*Fallback, error) {
	if fb == "" {
		return nil, nil
	}
	f := &Fallback{}
	if err := json.Unmarshal([]byte(fb), f); err != nil {
		return nil, fmt.Errorf("message page fallback: %w", err)
	}
	return f, nil
}

// PageOf returns a message's detail page, or ErrNotFound (messages sent
// before pages existed have none).
func (s *Store) PageOf(ctx context.Context, messageID int64) (Page, error) {
	return scanPage(s.rdb.QueryRowContext(ctx,
		`SELECT token, title, content, content_type, fallback FROM message_pages WHERE message_id = ?`, messageID))
}

// PageByToken returns the detail page with this token, or ErrNotFound.
func (s *Store) PageByToken(ctx context.Context, token string) (MessagePage, error) {
	var mp MessagePage
	var created int64
	row := s.rdb.QueryRowContext(ctx,
		`SELECT p.token, p.title, p.content, p.content_type, p.fallback, m.id, m.kind, m.created_at
		 FROM message_pages p JOIN messages m ON m.id = p.message_id WHERE p.token = ?`, token)
	var fb string
	err := row.Scan(&mp.Token, &mp.Title, &mp.Content, &mp.ContentType, &fb, &mp.MessageID, &mp.Kind, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return mp, ErrNotFound
	}
	if err != nil {
		return mp, err
	}
	mp.CreatedAt = fromMs(created)
	if mp.Fallback, err = parseFallback(fb); err != nil {
		return mp, err
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+topicCols+` FROM message_topics mt JOIN topics t ON t.id = mt.topic_id
		 WHERE mt.message_id = ? ORDER BY t.name`, mp.MessageID)
	if err != nil {
		return mp, err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			return mp, err
		}
		mp.Topics = append(mp.Topics, t)
	}
	return mp, rows.Err()
}
