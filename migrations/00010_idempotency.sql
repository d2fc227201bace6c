-- +goose Up
-- Idempotency-Key of POST /api/v1/messages and /send/{key}: the same key
-- (per API token or push key: scope) and the same body within 24 h answer
-- with the message the first request queued. Written in the enqueue's
-- transaction, so a key names a message exactly when that message exists.
CREATE TABLE idempotency_keys (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    body_hash  BLOB    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
CREATE INDEX idempotency_keys_message ON idempotency_keys(message_id);

-- +goose Down
DROP TABLE idempotency_keys;
