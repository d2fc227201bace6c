package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Template is a template message of the official account.
type Template struct {
	ID              string
	Title           string
	Content         string // with {{key.DATA}} placeholders
	Example         string
	PrimaryIndustry string
	DeputyIndustry  string
	SyncedAt        time.Time
}

// ReplaceTemplates makes ts the complete list of templates (as WeChat's
// get_all_private_template returned it).
func (s *Store) ReplaceTemplates(ctx context.Context, ts []Template) error {
	now := s.nowMs()
	defer s.cache.write(func() { clear(s.cache.templates) })
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM templates`); err != nil {
			return err
		}
		for _, t := range ts {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO templates(template_id, title, content, example, primary_industry, deputy_industry, synced_at)
				 VALUES(?, ?, ?, ?, ?, ?, ?)`,
				t.ID, t.Title, t.Content, t.Example, t.PrimaryIndustry, t.DeputyIndustry, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Templates lists the synced templates by title.
func (s *Store) Templates(ctx context.Context) ([]Template, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT template_id, title, content, example, primary_industry, deputy_industry, synced_at FROM templates ORDER BY title, template_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Template returns one synced template, or ErrNotFound.
func (s *Store) Template(ctx context.Context, id string) (Template, error) {
	if t, ok := s.cache.template(id); ok {
		return t, nil
	}
	gen := s.cache.generation()
	t, err := scanTemplate(s.rdb.QueryRowContext(ctx,
		`SELECT template_id, title, content, example, primary_industry, deputy_industry, synced_at FROM templates WHERE template_id = ?`, id))
	if err == nil {
		s.cache.fill(gen, func() { put(s.cache.templates, id, t) })
	}
	return t, err
}

func scanTemplate(row interface{ Scan(...any) error }) (Template, error) {
	var t Template
	var synced int64
	err := row.Scan(&t.ID, &t.Title, &t.Content, &t.Example, &t.PrimaryIndustry, &t.DeputyIndustry, &synced)
	if errors.Is(err, sql.ErrNoRows) {
		return Template{}, ErrNotFound
	}
	t.SyncedAt = fromMs(synced)
	return t, err
}

// AccessToken returns the stored access token of an app, or ErrNotFound.
func (s *Store) AccessToken(ctx context.Context, appID string) (token string, expiresAt time.Time, err error) {
	var exp int64
	err = s.rdb.QueryRowContext(ctx, `SELECT token, expires_at FROM access_tokens WHERE app_id = ?`, appID).Scan(&token, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	return token, fromMs(exp), err
}

// SaveAccessToken stores (or, with an empty token, deletes) an app's token.
func (s *Store) SaveAccessToken(ctx context.Context, appID, token string, expiresAt time.Time) error {
	if token == "" {
		_, err := s.wdb.ExecContext(ctx, `DELETE FROM access_tokens WHERE app_id = ?`, appID)
		return err
	}
	_, err := s.wdb.ExecContext(ctx,
		`INSERT INTO access_tokens(app_id, token, expires_at, updated_at) VALUES(?, ?, ?, ?)
		 ON CONFLICT(app_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
		appID, token, expiresAt.UnixMilli(), s.nowMs())
	return err
}
