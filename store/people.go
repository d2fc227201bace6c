package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Person is a user with their binding, as the admin dashboard lists them.
type Person struct {
	User
	Bound           bool
	OpenID          string
	Nickname        string
	BoundAt         time.Time
	Following       *bool // nil: not known yet
	FollowCheckedAt time.Time
	LastInteraction time.Time // zero: never seen
}

// People lists every user with binding details, by name.
func (s *Store) People(ctx context.Context) ([]Person, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT u.id, u.public_id, u.name, u.is_admin, u.created_at,
		        b.openid, b.nickname, b.bound_at, b.following, b.follow_checked_at, b.last_interaction_at
		 FROM users u LEFT JOIN bindings b ON b.user_id = u.id ORDER BY u.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		var created int64
		var openid, nick sql.NullString
		var bound, following, checked, inter sql.NullInt64
		if err := rows.Scan(&p.ID, &p.PublicID, &p.Name, &p.IsAdmin, &created,
			&openid, &nick, &bound, &following, &checked, &inter); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMs(created)
		if openid.Valid {
			p.Bound, p.OpenID, p.Nickname, p.BoundAt = true, openid.String, nick.String, fromMs(bound.Int64)
		}
		if following.Valid {
			f := following.Int64 == 1
			p.Following = &f
		}
		if checked.Valid {
			p.FollowCheckedAt = fromMs(checked.Int64)
		}
		if inter.Valid {
			p.LastInteraction = fromMs(inter.Int64)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Recipients returns the bound users among userIDs (all bound users when
// all is true), by name. Unbound or unknown ids are left out; compare
// lengths to tell.
func (s *Store) Recipients(ctx context.Context, all bool, userIDs []int64) ([]Recipient, error) {
	q := `SELECT u.id, u.name, b.openid FROM users u JOIN bindings b ON b.user_id = u.id`
	var args []any
	if !all {
		if len(userIDs) == 0 {
			return nil, nil
		}
		q += ` WHERE u.id IN (?` + strings.Repeat(", ?", len(userIDs)-1) + `)`
		for _, id := range userIDs {
			args = append(args, id)
		}
	}
	q += ` ORDER BY u.name`
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.UserID, &r.Name, &r.OpenID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetFollowing records whether an openid follows the account, as WeChat
// reported it at `at`.
func (s *Store) SetFollowing(ctx context.Context, openid string, following bool, at time.Time) error {
	_, err := s.wdb.ExecContext(ctx,
		`UPDATE bindings SET following = ?, follow_checked_at = ? WHERE openid = ?`, following, at.UnixMilli(), openid)
	return err
}

// TouchInteraction records that the user behind openid interacted with the
// account at `at` (this opens WeChat's customer-service window, §4).
func (s *Store) TouchInteraction(ctx context.Context, openid string, at time.Time) error {
	_, err := s.wdb.ExecContext(ctx,
		`UPDATE bindings SET last_interaction_at = max(COALESCE(last_interaction_at, 0), ?) WHERE openid = ?`, at.UnixMilli(), openid)
	return err
}
