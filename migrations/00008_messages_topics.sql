-- +goose Up
-- Every message's detail page (/m/{token}): the whole content behind the
-- card, reachable by anyone holding the link. token is random (24
-- characters of [A-Za-z0-9], about 143 bits) and stored as is: the message
-- page and every send need the link itself, not only a way to check it.
CREATE TABLE message_pages (
    message_id   INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    token        TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL DEFAULT '',
    content      TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT 'text' CHECK (content_type IN ('text', 'markdown')),
    -- A text message's template fallback (JSON {"template_id","data","url"}),
    -- decided per recipient by the outbox; '' when the sender turned it off
    -- or no notification template was set.
    fallback     TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Topics (主题) users subscribe to, and sends address.
CREATE TABLE topics (
    id             INTEGER PRIMARY KEY,
    slug           TEXT    NOT NULL UNIQUE,           -- [a-z0-9][a-z0-9_-]*, in URLs (/t/{slug}) and the API
    name           TEXT    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    self_subscribe INTEGER NOT NULL DEFAULT 1,        -- users may subscribe themselves
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE topic_subscribers (
    topic_id   INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (topic_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX topic_subscribers_user ON topic_subscribers(user_id);

-- The topics a message was sent to (its detail page offers 退订).
CREATE TABLE message_topics (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    topic_id   INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, topic_id)
) STRICT, WITHOUT ROWID;

-- How a delivery went out: '' as its kind; 'template' when a text message
-- was sent as the notification template (outside the customer-service window).
ALTER TABLE deliveries ADD COLUMN via TEXT NOT NULL DEFAULT '';

-- Counting the customer-service texts a user got since their window opened
-- (WeChat allows 5 per 48-hour window, 3 per 1-minute one).
CREATE INDEX deliveries_text_sent ON deliveries(openid, sent_at) WHERE kind = 'text' AND state = 'sent' AND via = '';

-- "My messages": a user's deliveries, newest first.
CREATE INDEX deliveries_user ON deliveries(user_id, id);

-- +goose Down
DROP INDEX deliveries_user;
DROP INDEX deliveries_text_sent;
ALTER TABLE deliveries DROP COLUMN via;
DROP TABLE message_topics;
DROP TABLE topic_subscribers;
DROP TABLE topics;
DROP TABLE message_pages;
