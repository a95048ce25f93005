-- congvu store schema, version 8: credentials of the JSON API (crates/web).
--
-- Two kinds in one table: a login session (made by POST /api/v1/session, short-lived) and an
-- API token for scripts (made by `congvu token create`, long-lived, labelled). Only the
-- BLAKE3 hash of the 32 random bytes is kept, so a copy of the database lets nobody in;
-- the secret is shown once when it is made.
-- `restricted` is empty for a full credential, or the reason ("expired", "must-change") a
-- session may only change its password (R-POL-2).

CREATE TABLE api_credentials (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    account_id   BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('session', 'token')),
    label        TEXT    NOT NULL DEFAULT '',
    restricted   TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);

CREATE INDEX api_credentials_account ON api_credentials (account_id);
