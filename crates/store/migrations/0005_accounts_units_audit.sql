-- congvu store schema, version 5: units, mailbox details and lifecycle history, requests,
-- password history, and the hash-chained audit log (R-ACC-1, R-ACC-5, R-ACC-6, R-POL-1/2,
-- R-POL-10). Version 4 belongs to the IMAP work; the numbers only need to be distinct.
-- Released migrations are never edited: add 0006_… instead.

-- The tree of units (đơn vị). A unit usually has a unit mailbox (hộp thư cơ quan).
CREATE TABLE units (
    id         INTEGER PRIMARY KEY,
    name       TEXT   NOT NULL,                         -- Vietnamese name, as written
    kind       TEXT   NOT NULL,                         -- core::unit::kind_token
    parent_id  BIGINT REFERENCES units (id),
    account_id BIGINT UNIQUE REFERENCES accounts (id),  -- the unit mailbox, if any
    created_at BIGINT NOT NULL
);
CREATE INDEX units_parent ON units (parent_id);

-- Unit IT contacts (R-ACC-6): who may file requests for a unit and the units below it.
CREATE TABLE unit_contacts (
    unit_id    BIGINT NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (unit_id, account_id)
) WITHOUT ROWID;
CREATE INDEX unit_contacts_account ON unit_contacts (account_id);

-- Directory details and password / lifecycle bookkeeping of a mailbox.
ALTER TABLE accounts ADD COLUMN unit_id BIGINT REFERENCES units (id);
ALTER TABLE accounts ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN phone TEXT NOT NULL DEFAULT '';
-- A new or reset password must be changed at first use (R-POL-2).
ALTER TABLE accounts ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
-- NULL: never changed since the account was created (created_at counts).
ALTER TABLE accounts ADD COLUMN password_changed_at BIGINT;
ALTER TABLE accounts ADD COLUMN state_changed_at BIGINT;
CREATE INDEX accounts_unit ON accounts (unit_id);

-- Every state change of a mailbox, oldest first (R-ACC-5).
CREATE TABLE account_state_history (
    id         INTEGER PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    reason     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX account_state_history_account ON account_state_history (account_id, id);

-- Earlier password hashes, newest first by id, kept for the no-reuse rule (R-POL-1).
CREATE TABLE password_history (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password_hash TEXT   NOT NULL,
    replaced_at   BIGINT NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, id);

-- Requests filed by unit IT contacts and decided by the operator (R-ACC-6).
CREATE TABLE requests (
    id              INTEGER PRIMARY KEY,
    kind            TEXT   NOT NULL,   -- core::request::RequestKind::as_str
    status          TEXT   NOT NULL DEFAULT 'pending',
    requested_by    TEXT   NOT NULL,   -- address of the requester
    unit_id         BIGINT REFERENCES units (id),
    mailbox         TEXT   NOT NULL DEFAULT '',  -- the address concerned (empty for a new one)
    name            TEXT   NOT NULL DEFAULT '',
    title           TEXT   NOT NULL DEFAULT '',
    phone           TEXT   NOT NULL DEFAULT '',
    reason          TEXT   NOT NULL DEFAULT '',
    filed_at        BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT   NOT NULL DEFAULT '',
    result          TEXT   NOT NULL DEFAULT ''   -- what carrying it out produced (the new address)
);
CREATE INDEX requests_status ON requests (status, id);

-- The audit log (0001) becomes a hash chain: each row carries the BLAKE3 hash of the row
-- before it and its own, so an edited or deleted row breaks the chain (R-POL-10).
ALTER TABLE audit ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN source_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
-- Append-only inside the database too: an edit needs the triggers dropped first, which the
-- chain then reveals. (Trigger syntax is SQLite's; PostgreSQL gets a trigger function.)
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
