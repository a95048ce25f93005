-- congvu store schema, version 10: Sieve scripts (RFC 5228) managed over ManageSieve
-- (RFC 5804), and the vacation reply memory (RFC 5230 §4.2).
--
-- A mailbox has any number of named scripts and at most one active (RFC 5804 §1.1): the
-- partial unique index makes "two active scripts" impossible whatever the code does.
-- vacation_replies remembers, per mailbox, vacation handle and sender, when the last
-- automatic reply went out, so the same person is answered once per :days.

CREATE TABLE sieve_scripts (
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    content    BLOB    NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts (account_id) WHERE active = 1;

CREATE TABLE vacation_replies (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    handle     TEXT   NOT NULL,
    sender     TEXT   NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, handle, sender)
) WITHOUT ROWID;
