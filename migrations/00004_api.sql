-- +goose Up
-- Admin API tokens: shown once, kept as a SHA-256 hash.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,            -- first characters, to recognise a token in lists
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- Personal send keys (/send/{key}): one per user, kept as a SHA-256 hash.
CREATE TABLE send_keys (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_hash     BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;

-- What admins did: who sent what to whom, tokens created or revoked, ….
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor      TEXT    NOT NULL,              -- name at the time, or "api:<token name>", "cli"
    action     TEXT    NOT NULL,              -- message.send, token.create, token.revoke, …
    target     TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);

CREATE INDEX messages_created ON messages(created_at);

-- +goose Down
DROP INDEX messages_created;
DROP TABLE audit_log;
DROP TABLE send_keys;
DROP TABLE api_tokens;
