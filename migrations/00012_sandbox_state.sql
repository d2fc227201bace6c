-- +goose Up
-- The built-in WeChat emulator's state (sandbox mode), so that a restart
-- keeps its simulated users, tokens and templates: opaque records the
-- emulator names ("user/<openid>", "tokens", …) and encodes itself.
CREATE TABLE sandbox_state (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE sandbox_state;
