-- +goose Up
-- Messages and events WeChat pushed to the server URL (docs/wechat.md §7). dedup_key makes
-- WeChat's retries land once.
CREATE TABLE inbound_events (
    id          INTEGER PRIMARY KEY,
    dedup_key   TEXT    NOT NULL UNIQUE,
    openid      TEXT    NOT NULL,
    msg_type    TEXT    NOT NULL,
    event       TEXT    NOT NULL DEFAULT '',
    event_key   TEXT    NOT NULL DEFAULT '',
    content     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,   -- WeChat's CreateTime
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX inbound_events_received ON inbound_events(received_at);

-- A follow, scan or menu click opens a 1-minute customer-service window;
-- a message from the user a 48-hour one (last_interaction_at) (docs/wechat.md §4).
ALTER TABLE followers ADD COLUMN last_event_at INTEGER;

-- The delivery result WeChat reports later (TEMPLATESENDJOBFINISH):
-- '' (none yet), delivered, blocked (by the user), sysfailed.
ALTER TABLE deliveries ADD COLUMN receipt TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN receipt_at INTEGER;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN receipt_at;
ALTER TABLE deliveries DROP COLUMN receipt;
ALTER TABLE followers DROP COLUMN last_event_at;
DROP TABLE inbound_events;
