-- +goose Up
-- Signed outbound webhooks. An endpoint receives the event types it lists;
-- every event is written in the transaction of the change that caused it,
-- with one pending delivery per subscribed endpoint, and the webhook
-- worker sends each endpoint's deliveries in id (creation) order.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT    NOT NULL UNIQUE,     -- whk_…: what pages and the API name
    url              TEXT    NOT NULL,
    events           TEXT    NOT NULL,            -- event types, space-separated
    description      TEXT    NOT NULL DEFAULT '',
    secret           TEXT    NOT NULL,            -- the signing key (whsec_…); kept in clear, signing needs it
    old_secret       TEXT,                        -- the key before the last rotation, still signing ...
    old_secret_until INTEGER,                     -- ... until then
    created_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    disabled_at      INTEGER,                     -- NULL: enabled
    disabled_reason  TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE webhook_events (
    id         INTEGER PRIMARY KEY,
    public_id  TEXT    NOT NULL UNIQUE,           -- evt_…: the body's id and Wxpush-Delivery
    type       TEXT    NOT NULL,
    data       TEXT    NOT NULL,                  -- JSON object
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_events_created ON webhook_events(created_at);

-- One event for one endpoint: the worker's queue.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(endpoint_id, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

-- Every attempt, for the endpoint's delivery log.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,       -- 0: no HTTP answer (see error)
    latency_ms  INTEGER NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL                  -- succeeded, retrying, failed, disabled
) STRICT;
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);

-- Scoped API tokens: send (create messages), read (messages, users,
-- topics), manage (webhooks, topics, subscribers). Tokens made before
-- scopes existed keep all three.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'send read manage';

-- Signs that another system refreshes the app's access token with the
-- same AppSecret (wechat/conflict.go).
CREATE TABLE token_conflicts (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,                     -- rejected, replaced
    errcode INTEGER NOT NULL DEFAULT 0,
    left_ms INTEGER NOT NULL                      -- how long the replaced token still had
) STRICT;
CREATE INDEX token_conflicts_at ON token_conflicts(at);

-- +goose Down
DROP TABLE token_conflicts;
ALTER TABLE api_tokens DROP COLUMN scopes;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
