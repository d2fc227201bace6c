-- +goose Up
-- Admins manage accounts: a disabled account cannot sign in and receives
-- nothing (NULL: enabled).
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- One-time password-reset links an admin makes for a user: valid an hour,
-- shown once, only the token's SHA-256 kept. One row per user: a new link
-- replaces the previous one; the row stays after use so that a second visit
-- is told the link was used.
CREATE TABLE password_resets (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    token_hash BLOB    NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- +goose Down
DROP TABLE password_resets;
ALTER TABLE users DROP COLUMN disabled_at;
