-- +goose Up
-- A delivery's state says what WeChat did, or that we cannot know.
--
-- unknown: the request may have reached WeChat but no answer says whether it
-- was delivered (a timeout or HTTP 5xx after the request was written, a crash
-- while in flight, a template message whose resend would fall outside
-- WeChat's 10-minute client_msg_id de-duplication window). Never resent
-- automatically; an admin may resend it.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,          -- copy of messages.kind, for claiming without a join
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    openid          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'retrying', 'failed', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0, -- attempts WeChat answered (or that timed out)
    next_attempt_at INTEGER NOT NULL,
    errcode         INTEGER NOT NULL DEFAULT 0,
    errmsg          TEXT    NOT NULL DEFAULT '',
    msgid           INTEGER,                   -- WeChat's msgid of a template message
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    receipt         TEXT    NOT NULL DEFAULT '',
    receipt_at      INTEGER,
    -- The current claim (state sending): when it was made and until when the
    -- claiming outbox holds it. A running outbox renews the leases it holds;
    -- an expired one is reclaimed by the sweeper.
    claimed_at      INTEGER,
    lease_until     INTEGER,
    -- Customer-service text only: set just before the request is written, so
    -- that a crash tells an attempt in flight from one never started.
    started_at      INTEGER,
    -- The claim time of the earliest attempt that may have reached WeChat
    -- without our knowing the outcome. A template message is resent only
    -- while WeChat's de-duplication window since then still holds.
    maybe_sent_at   INTEGER
) STRICT;
INSERT INTO deliveries_new(id, message_id, kind, user_id, openid, state, attempts, next_attempt_at,
        errcode, errmsg, msgid, created_at, updated_at, sent_at, receipt, receipt_at)
    -- Attempts used to be counted when claimed: a row left sending had
    -- counted one that was never answered.
    SELECT id, message_id, kind, user_id, openid, state, max(attempts - (state = 'sending'), 0), next_attempt_at,
        errcode, errmsg, msgid, created_at, updated_at, sent_at, receipt, receipt_at
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX deliveries_message ON deliveries(message_id, state);
CREATE INDEX deliveries_sending ON deliveries(state, lease_until) WHERE state = 'sending';
CREATE INDEX deliveries_msgid ON deliveries(msgid) WHERE msgid IS NOT NULL;

-- A large send is written in several transactions, so that none holds
-- SQLite's single write lock for long. Until the last one commits its
-- message has preparing_at set (the time of its latest chunk) and is
-- invisible: nothing claims, lists or counts it. One abandoned by a crash
-- is deleted once its preparing_at is old.
ALTER TABLE messages ADD COLUMN preparing_at INTEGER;
CREATE INDEX messages_preparing ON messages(id) WHERE preparing_at IS NOT NULL;

-- +goose Down
DROP INDEX messages_preparing;
DELETE FROM deliveries WHERE message_id IN (SELECT id FROM messages WHERE preparing_at IS NOT NULL);
DELETE FROM messages WHERE preparing_at IS NOT NULL;
ALTER TABLE messages DROP COLUMN preparing_at;
CREATE TABLE deliveries_old (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    openid          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'retrying', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    errcode         INTEGER NOT NULL DEFAULT 0,
    errmsg          TEXT    NOT NULL DEFAULT '',
    msgid           INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    receipt         TEXT    NOT NULL DEFAULT '',
    receipt_at      INTEGER
) STRICT;
-- unknown has no equivalent before this migration: failed is the closest
-- (final, not retried).
INSERT INTO deliveries_old(id, message_id, kind, user_id, openid, state, attempts, next_attempt_at,
        errcode, errmsg, msgid, created_at, updated_at, sent_at, receipt, receipt_at)
    SELECT id, message_id, kind, user_id, openid, CASE state WHEN 'unknown' THEN 'failed' ELSE state END,
        attempts, next_attempt_at, errcode, errmsg, msgid, created_at, updated_at, sent_at, receipt, receipt_at
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_old RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX deliveries_message ON deliveries(message_id, state);
CREATE INDEX deliveries_sending ON deliveries(state) WHERE state = 'sending';
CREATE INDEX deliveries_msgid ON deliveries(msgid) WHERE msgid IS NOT NULL;
