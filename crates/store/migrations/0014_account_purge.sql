-- Purging a revoked mailbox once `[policy] revoked_retention` has run out (R-ACC-5).
--
-- A purged mailbox keeps its row as a tombstone: its address stays taken (UNIQUE), so naming
-- never hands it to somebody else and the audit log and state history keep pointing at it;
-- its folders, messages, grants, passwords and scripts are gone.
--
-- `accounts.state` keeps 'revoked' and `purged_at` says the mailbox is purged: SQLite cannot
-- change the CHECK constraint of 0001 without rebuilding the table, and rebuilding a table
-- that others reference ON DELETE CASCADE would delete their rows.
-- Released migrations are never edited: add 0015_… instead.
ALTER TABLE accounts ADD COLUMN purged_at BIGINT;

-- Message files whose index row was removed because no mailbox held them any more, waiting
-- for their file to be deleted (sqlite/garbage.rs). The file is deleted in a later write
-- transaction that first checks nothing references the hash again.
CREATE TABLE blob_garbage (
    hash TEXT   PRIMARY KEY,
    since BIGINT NOT NULL
);

-- Garbage collection asks "does a queued message still hold this blob?".
CREATE INDEX queue_messages_blob ON queue_messages (blob_hash);
