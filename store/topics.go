package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Topic is a subject users subscribe to (主题); sends can address it.
type Topic struct {
	ID            int64
	Slug          string // in URLs (/t/{slug}) and the API
	Name          string
	Description   string
	SelfSubscribe bool // users may subscribe themselves
	CreatedAt     time.Time
	Subscribers   int // filled by Topics and TopicBySlug
	Bound         int // subscribers who have bound WeChat (idem)
}

const topicCols = `t.id, t.slug, t.name, t.description, t.self_subscribe, t.created_at`

func scanTopic(row interface{ Scan(...any) error }, extra ...any) (Topic, error) {
	var t Topic
	var created int64
	err := row.Scan(append([]any{&t.ID, &t.Slug, &t.Name, &t.Description, &t.SelfSubscribe, &created}, extra...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt = fromMs(created)
	return t, err
}

// withCounts selects topics with their subscriber counts.
const withCounts = `SELECT ` + topicCols + `,
	(SELECT count(*) FROM topic_subscribers s WHERE s.topic_id = t.id),
	(SELECT count(*) FROM topic_subscribers s JOIN bindings b ON b.user_id = s.user_id WHERE s.topic_id = t.id)
	FROM topics t`

// CreateTopic adds a topic; a taken slug is ErrConflict.
func (s *Store) CreateTopic(ctx context.Context, t Topic) (Topic, error) {
	t.CreatedAt = fromMs(s.nowMs())
	res, err := s.wdb.ExecContext(ctx,
		`INSERT INTO topics(slug, name, description, self_subscribe, created_at) VALUES(?, ?, ?, ?, ?)`,
		t.Slug, t.Name, t.Description, t.SelfSubscribe, t.CreatedAt.UnixMilli())
	if err != nil {
		if isUniqueViolation(err) {
			return Topic{}, ErrConflict
		}
		return Topic{}, err
	}
	t.ID, err = res.LastInsertId()
	return t, err
}

// UpdateTopic changes a topic's name, description and self-subscribe flag
// (its slug stays: links and programs use it).
func (s *Store) UpdateTopic(ctx context.Context, t Topic) error {
	res, err := s.wdb.ExecContext(ctx,
		`UPDATE topics SET name = ?, description = ?, self_subscribe = ? WHERE id = ?`,
		t.Name, t.Description, t.SelfSubscribe, t.ID)
	return affectedOne(res, err)
}

// DeleteTopic deletes a topic with its subscriptions; messages sent to it
// stay.
func (s *Store) DeleteTopic(ctx context.Context, id int64) error {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM topics WHERE id = ?`, id)
	return affectedOne(res, err)
}

func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Topics lists every topic by name, with subscriber counts.
func (s *Store) Topics(ctx context.Context) ([]Topic, error) {
	rows, err := s.rdb.QueryContext(ctx, withCounts+` ORDER BY t.name, t.slug`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Topic
	for rows.Next() {
		var subs, bound int
		t, err := scanTopic(rows, &subs, &bound)
		if err != nil {
			return nil, err
		}
		t.Subscribers, t.Bound = subs, bound
		out = append(out, t)
	}
	return out, rows.Err()
}

// TopicBySlug returns a topic with its counts, or ErrNotFound. Slugs are
// compared in lower case.
func (s *Store) TopicBySlug(ctx context.Context, slug string) (Topic, error) {
	var subs, bound int
	t, err := scanTopic(s.rdb.QueryRowContext(ctx, withCounts+` WHERE t.slug = ?`, strings.ToLower(slug)), &subs, &bound)
	t.Subscribers, t.Bound = subs, bound
	return t, err
}

// Subscribe adds a user to a topic; changed is false when they already
// were subscribed.
func (s *Store) Subscribe(ctx context.Context, topicID, userID int64) (changed bool, err error) {
	res, err := s.wdb.ExecContext(ctx,
		`INSERT INTO topic_subscribers(topic_id, user_id, created_at) VALUES(?, ?, ?) ON CONFLICT DO NOTHING`,
		topicID, userID, s.nowMs())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Unsubscribe removes a user from a topic; changed is false when they were
// not subscribed.
func (s *Store) Unsubscribe(ctx context.Context, topicID, userID int64) (changed bool, err error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM topic_subscribers WHERE topic_id = ? AND user_id = ?`, topicID, userID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Subscribed reports which of the topics the user is subscribed to, as a
// set of topic ids.
func (s *Store) Subscribed(ctx context.Context, userID int64) (map[int64]bool, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT topic_id FROM topic_subscribers WHERE user_id = ?`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// Subscriber is a user subscribed to a topic.
type Subscriber struct {
	UserID int64
	Name   string
	Bound  bool
	Since  time.Time
}

// TopicSubscribers lists a topic's subscribers by name.
func (s *Store) TopicSubscribers(ctx context.Context, topicID int64) ([]Subscriber, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT u.id, u.name, b.user_id IS NOT NULL, s.created_at FROM topic_subscribers s
		 JOIN users u ON u.id = s.user_id LEFT JOIN bindings b ON b.user_id = u.id
		 WHERE s.topic_id = ? ORDER BY u.name`, topicID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Subscriber
	for rows.Next() {
		var sub Subscriber
		var since int64
		if err := rows.Scan(&sub.UserID, &sub.Name, &sub.Bound, &since); err != nil {
			return nil, err
		}
		sub.Since = fromMs(since)
		out = append(out, sub)
	}
	return out, rows.Err()
}

// TopicMembers returns the ids of the users subscribed to any of the
// topics, each once.
func (s *Store) TopicMembers(ctx context.Context, topicIDs []int64) ([]int64, error) {
	if len(topicIDs) == 0 {
		return nil, nil
	}
	q := `SELECT DISTINCT user_id FROM topic_subscribers WHERE topic_id IN (?` + strings.Repeat(", ?", len(topicIDs)-1) + `) ORDER BY user_id`
	args := make([]any, len(topicIDs))
	for i, id := range topicIDs {
		args[i] = id
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
