-- +goose Up
-- The WeChat access token (one per app), so restarts don't fetch a new one.
CREATE TABLE access_tokens (
    app_id     TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Template messages available to the account, synced from WeChat.
CREATE TABLE templates (
    template_id      TEXT    PRIMARY KEY,
    title            TEXT    NOT NULL,
    content          TEXT    NOT NULL,
    example          TEXT    NOT NULL DEFAULT '',
    primary_industry TEXT    NOT NULL DEFAULT '',
    deputy_industry  TEXT    NOT NULL DEFAULT '',
    synced_at        INTEGER NOT NULL
) STRICT;

-- What WeChat told us about an openid, bound to an account or not (yet).
CREATE TABLE followers (
    openid              TEXT    PRIMARY KEY,
    following           INTEGER,               -- NULL: unknown
    follow_checked_at   INTEGER,
    last_interaction_at INTEGER                -- opens the customer-service window (docs/wechat.md §4)
) STRICT;

-- One row per send request ...
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'template')),
    body        TEXT    NOT NULL DEFAULT '',   -- text content
    template_id TEXT    NOT NULL DEFAULT '',
    data        TEXT    NOT NULL DEFAULT '{}', -- template data, JSON object key → value
    url         TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL,              -- dashboard, cli, api, sendkey
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    total       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- ... and one per recipient: the outbox.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,          -- copy of messages.kind, for claiming without a join
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    openid          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'retrying', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    errcode         INTEGER NOT NULL DEFAULT 0,
    errmsg          TEXT    NOT NULL DEFAULT '',
    msgid           INTEGER,                   -- WeChat's msgid of a template message
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX deliveries_message ON deliveries(message_id, state);
CREATE INDEX deliveries_sending ON deliveries(state) WHERE state = 'sending';
CREATE INDEX deliveries_msgid ON deliveries(msgid) WHERE msgid IS NOT NULL;

-- +goose Down
DROP TABLE deliveries;
DROP TABLE messages;
DROP TABLE followers;
DROP TABLE templates;
DROP TABLE access_tokens;
