-- congvu store schema, version 1.
--
-- Real tables and columns (DESIGN.md "Storage"), written in the SQL that SQLite and
-- PostgreSQL share: INTEGER PRIMARY KEY becomes an identity column in PostgreSQL, BIGINT and
-- TEXT mean the same in both. The one SQLite-only clause is WITHOUT ROWID on the two tables
-- keyed by (folder_id, uid): it stores their rows in primary-key order, so a SELECT of a
-- 100k-message folder is one range scan (PostgreSQL drops the clause).
-- Released migrations are never edited: add 0002_… instead.

-- One mailbox (a person, a unit, or an operator).
CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY,
    address          TEXT    NOT NULL UNIQUE,   -- canonical lowercase address
    display_name     TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,          -- Argon2id PHC string
    kind             TEXT    NOT NULL CHECK (kind IN ('person', 'unit', 'operator')),
    state            TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'revoked')),
    created_at       BIGINT  NOT NULL,          -- seconds since the epoch
    -- The last UIDVALIDITY given to a folder of this account: a folder deleted and created
    -- again within the same second still gets a new one (RFC 9051 §2.3.1.1).
    last_uidvalidity BIGINT  NOT NULL DEFAULT 0
);

-- Folders, named by their full path with '/' as delimiter.
CREATE TABLE folders (
    id             INTEGER PRIMARY KEY,
    account_id     BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    special_use    TEXT,                         -- core::SpecialUse::as_str, or NULL
    uidvalidity    BIGINT  NOT NULL,
    uidnext        BIGINT  NOT NULL DEFAULT 1,
    highest_modseq BIGINT  NOT NULL DEFAULT 1,
    subscribed     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (account_id, name)
);
CREATE INDEX folders_special_use ON folders (account_id, special_use);

-- One row per unique message body (blob), however many mailboxes hold it: what FETCH,
-- SORT and SEARCH need, parsed once at delivery.
CREATE TABLE messages (
    hash                  TEXT    PRIMARY KEY,   -- BLAKE3, 64 lowercase hex digits
    size                  BIGINT  NOT NULL,      -- RFC822.SIZE
    sent_at               BIGINT,                -- Date header, seconds since the epoch
    subject               TEXT    NOT NULL,
    from_display          TEXT    NOT NULL,
    message_id            TEXT,
    has_attachments       BOOLEAN NOT NULL,
    envelope              TEXT    NOT NULL,      -- JSON of wire::mime::Envelope
    structure             TEXT    NOT NULL,      -- JSON of wire::mime::BodyPart
    -- NFC-lowercased text (searches with diacritics) …
    search_exact_subject  TEXT    NOT NULL,
    search_exact_from     TEXT    NOT NULL,
    search_exact_to       TEXT    NOT NULL,
    search_exact_cc       TEXT    NOT NULL,
    search_exact_bcc      TEXT    NOT NULL,
    search_exact_body     TEXT    NOT NULL,
    -- … and the same with every diacritic removed (searches without diacritics).
    search_folded_subject TEXT    NOT NULL,
    search_folded_from    TEXT    NOT NULL,
    search_folded_to      TEXT    NOT NULL,
    search_folded_cc      TEXT    NOT NULL,
    search_folded_bcc     TEXT    NOT NULL,
    search_folded_body    TEXT    NOT NULL
);

-- A message in a folder. UIDs are never reused within a folder's UIDVALIDITY.
CREATE TABLE mailbox_entries (
    folder_id     BIGINT  NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid           BIGINT  NOT NULL,
    modseq        BIGINT  NOT NULL,
    flags         INTEGER NOT NULL DEFAULT 0,   -- core::Flag bits
    keywords      TEXT    NOT NULL DEFAULT '',  -- space-separated, sorted
    internal_date BIGINT  NOT NULL,
    size          BIGINT  NOT NULL,             -- copy of messages.size: SELECT and STATUS need no join
    message_hash  TEXT    NOT NULL REFERENCES messages (hash),
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX mailbox_entries_modseq ON mailbox_entries (folder_id, modseq);
CREATE INDEX mailbox_entries_hash ON mailbox_entries (message_hash);

-- Expunged UIDs with the MODSEQ of their removal, for QRESYNC VANISHED (RFC 7162 §3.2.5).
CREATE TABLE expunged (
    folder_id BIGINT NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid       BIGINT NOT NULL,
    modseq    BIGINT NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (folder_id, modseq);

-- Who did what, when: administrative actions and access to mailboxes (used by later steps).
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    detail TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);
