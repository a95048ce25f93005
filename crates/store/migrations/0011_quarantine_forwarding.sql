-- congvu store schema, version 11: the quarantine (mail held for the operator, R-POL-3/R-POL-7)
-- and automatic forwarding set by the operator (R-POL-6).
--
-- A quarantined message is in no mailbox: its blob is referenced from here only, so any blob
-- clean-up must count `quarantine.blob_hash` as a reference (as it counts the queue's).
-- Recipients are kept as a JSON array of addresses, in the order RCPT TO gave them.
-- Released migrations are never edited: add a new numbered file instead.

CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    blob_hash      TEXT    NOT NULL,            -- BLAKE3 of the message in the blob store
    mail_from      TEXT    NOT NULL,            -- envelope sender ('' for the null reverse-path)
    recipients     TEXT    NOT NULL,            -- JSON array of envelope recipients
    reason         TEXT    NOT NULL,            -- the pipeline's reason, as the operator reads it
    source         TEXT    NOT NULL,            -- where it came in: 'mx', 'submission', …
    remote_ip      TEXT    NOT NULL DEFAULT '',
    helo           TEXT    NOT NULL DEFAULT '',
    message_id     TEXT,                        -- Message-ID without angle brackets
    subject        TEXT    NOT NULL DEFAULT '',
    quarantined_at BIGINT  NOT NULL             -- seconds since the epoch
);
CREATE INDEX quarantine_blob ON quarantine (blob_hash);
CREATE INDEX quarantine_message_id ON quarantine (message_id);

-- `congvu purge --message-id` finds every copy of a leaked document by its Message-ID.
CREATE INDEX messages_message_id ON messages (message_id);

-- Forwarding targets of a mailbox: each delivery to the mailbox keeps its copy and sends one to
-- every target (inside `[policy] government_domains`, checked when set and again at delivery).
CREATE TABLE forwards (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT   NOT NULL,                 -- lowercase target address
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, address)
) WITHOUT ROWID;
