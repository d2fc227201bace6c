package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
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
	LastInteraction time.Time // last message from the user (48-hour window); zero: never
	LastEvent       time.Time // last follow/scan/click (1-minute window)
}

// People lists every user with binding details, by name.
func (s *Store) People(ctx context.Context) ([]Person, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT u.id, u.public_id, u.name, u.is_admin, u.created_at, u.disabled_at,
		        b.openid, b.nickname, b.bound_at, f.following, f.follow_checked_at, f.last_interaction_at, f.last_event_at
		 FROM users u LEFT JOIN bindings b ON b.user_id = u.id LEFT JOIN followers f ON f.openid = b.openid
		 ORDER BY u.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		var created int64
		var openid, nick sql.NullString
		var disabled, bound, following, checked, inter, event sql.NullInt64
		if err := rows.Scan(&p.ID, &p.PublicID, &p.Name, &p.IsAdmin, &created, &disabled,
			&openid, &nick, &bound, &following, &checked, &inter, &event); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMs(created)
		if disabled.Valid {
			p.DisabledAt = fromMs(disabled.Int64)
		}
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
		if event.Valid {
			p.LastEvent = fromMs(event.Int64)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Recipients returns the bound users among userIDs (all bound users when
// all is true), by name. Unbound, disabled or unknown ids are left out;
// compare lengths to tell.
func (s *Store) Recipients(ctx context.Context, all bool, userIDs []int64) ([]Recipient, error) {
	if !all {
		if len(userIDs) == 0 {
			return nil, nil
		}
		userIDs = slices.Compact(slices.Sorted(slices.Values(userIDs)))
		if rs, ok := s.cache.recipientsOf(userIDs); ok {
			// As ORDER BY u.name sorts: users.name is COLLATE NOCASE.
			slices.SortFunc(rs, func(a, b Recipient) int { return strings.Compare(nocase(a.Name), nocase(b.Name)) })
			return rs, nil
		}
	}
	gen := s.cache.generation()
	var rows *sql.Rows
	var err error
	if all {
		rows, err = s.rdb.QueryContext(ctx, allRecipientsSQL)
	} else {
		rows, err = s.rdb.QueryContext(ctx, recipientsSQL, jsonArray(userIDs))
	}
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if all {
		return out, nil
	}
	s.cache.fill(gen, func() {
		for _, id := range userIDs {
			put(s.cache.recipients, id, Recipient{UserID: id}) // unbound, disabled or unknown
		}
		for _, r := range out {
			s.cache.recipients[r.UserID] = r
		}
	})
	return out, nil
}

const allRecipientsSQL = `SELECT u.id, u.name, b.openid FROM users u JOIN bindings b ON b.user_id = u.id
	WHERE u.disabled_at IS NULL ORDER BY u.name`

// recipientsSQL takes the ids as one JSON array, so that any number of
// them is one query text (see jsonArray); SQLite walks the list and looks
// each id up by primary key in bindings and users.
const recipientsSQL = `SELECT u.id, u.name, b.openid FROM users u JOIN bindings b ON b.user_id = u.id
	WHERE u.id IN (SELECT value FROM json_each(?)) AND u.disabled_at IS NULL ORDER BY u.name`

// SetFollowing records whether an openid follows the account, as WeChat
// reported it at `at`.
func (s *Store) SetFollowing(ctx context.Context, openid string, following bool, at time.Time) error {
	_, err := s.wdb.ExecContext(ctx, setFollowingSQL, openid, following, at.UnixMilli())
	return err
}

const setFollowingSQL = `INSERT INTO followers(openid, following, follow_checked_at) VALUES(?, ?, ?)
	ON CONFLICT(openid) DO UPDATE SET following = excluded.following, follow_checked_at = excluded.follow_checked_at
	WHERE COALESCE(followers.follow_checked_at, 0) <= excluded.follow_checked_at`

const touchSQL = `INSERT INTO followers(openid, last_interaction_at) VALUES(?, ?)
	ON CONFLICT(openid) DO UPDATE SET last_interaction_at = max(COALESCE(followers.last_interaction_at, 0), excluded.last_interaction_at)`

// Follower is what is known of one openid.
type Follower struct {
	OpenID          string
	Following       *bool
	LastInteraction time.Time
}

// Follower returns what is known of an openid (zero values when nothing).
func (s *Store) Follower(ctx context.Context, openid string) (Follower, error) {
	f := Follower{OpenID: openid}
	var following, inter sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT following, last_interaction_at FROM followers WHERE openid = ?`, openid).Scan(&following, &inter)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if following.Valid {
		b := following.Int64 == 1
		f.Following = &b
	}
	if inter.Valid {
		f.LastInteraction = fromMs(inter.Int64)
	}
	return f, nil
}

// TouchInteraction records that the user behind openid interacted with the
// account at `at` (this opens WeChat's customer-service window, docs/wechat.md §4).
func (s *Store) TouchInteraction(ctx context.Context, openid string, at time.Time) error {
	_, err := s.wdb.ExecContext(ctx, touchSQL, openid, at.UnixMilli())
	return err
}
