-- +goose Up
-- Times are unix milliseconds in UTC.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

-- One WeChat binding per user, and one user per openid.
CREATE TABLE bindings (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    openid     TEXT    NOT NULL UNIQUE,
    nickname   TEXT    NOT NULL DEFAULT '',
    avatar_url TEXT    NOT NULL DEFAULT '',
    bound_at   INTEGER NOT NULL
) STRICT;

-- One-time binding tokens (the OAuth state). Only a hash of the token is kept.
CREATE TABLE bind_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX bind_tokens_user ON bind_tokens(user_id, id);

-- +goose Down
DROP TABLE bind_tokens;
DROP TABLE bindings;
DROP TABLE users;
DROP TABLE settings;
