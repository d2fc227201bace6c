-- +goose Up
-- Browser sessions, kept server-side so that logging out (or ending a
-- session from another browser) really ends it. The cookie carries a random
-- token; only its SHA-256 is kept. Lifetime is absolute: expires_at is set
-- at sign-in and never moves.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,            -- moved at most once a minute
    ip           TEXT    NOT NULL DEFAULT '', -- client address when last seen
    user_agent   TEXT    NOT NULL DEFAULT ''  -- at sign-in, truncated
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Cookie sessions were signed and encrypted with these keys: whoever read
-- the database could forge a session for any user. Sessions are rows now;
-- the keys go, and with them every cookie issued before (users sign in
-- again).
DELETE FROM settings WHERE key = 'session_keys';

-- Retention deletes binding tokens a day after they expire.
CREATE INDEX bind_tokens_expires ON bind_tokens(expires_at);

-- +goose Down
DROP INDEX bind_tokens_expires;
DROP TABLE sessions;
