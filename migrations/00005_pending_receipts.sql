-- +goose Up
-- TEMPLATESENDJOBFINISH receipts that arrived before the msgid they report
-- on was stored: WeChat's push can beat the HTTP answer of the send. Each
-- is applied in the transaction that later stores its msgid, or expires
-- after a day. id orders them by arrival, so the oldest go first when the
-- table is full.
CREATE TABLE pending_receipts (
    id          INTEGER PRIMARY KEY,
    msgid       INTEGER NOT NULL UNIQUE,
    receipt     TEXT    NOT NULL,   -- delivered, blocked, sysfailed
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_receipts_received ON pending_receipts(received_at);

-- +goose Down
DROP TABLE pending_receipts;
