-- congvu store schema, version 2: the outbound queue (mail for other mail systems).
--
-- One row per queued message and one per recipient: each recipient is delivered, retried
-- and bounced on its own (RFC 5321 §4.5.4.1), while the body is one blob shared by all.
-- Claiming is a lease: a worker sets `locked_until` in the transaction that picks due rows,
-- so another worker (another node, later with PostgreSQL's FOR UPDATE SKIP LOCKED) skips
-- them; a worker that dies leaves rows that become due again when the lease runs out.
-- A queued message keeps its blob: `blob_hash` must count as a reference for any blob
-- clean-up.
-- Released migrations are never edited: add a new numbered file instead.

CREATE TABLE queue_messages (
    id           INTEGER PRIMARY KEY,
    blob_hash    TEXT    NOT NULL,          -- BLAKE3 of the message in the blob store
    mail_from    TEXT    NOT NULL,          -- envelope sender; '' for bounces (RFC 5321 §4.5.5)
    created_at   BIGINT  NOT NULL,          -- seconds since the epoch
    submitted_by TEXT                       -- authenticated login, if any
);

CREATE TABLE queue_recipients (
    id              INTEGER PRIMARY KEY,
    message_id      BIGINT  NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
    address         TEXT    NOT NULL,
    domain          TEXT    NOT NULL,       -- lowercase part after the last '@': delivery groups by it
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,       -- seconds since the epoch
    locked_until    BIGINT  NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    last_error      TEXT,
    remote_host     TEXT,                   -- the host that gave the last answer
    remote_response TEXT,                   -- its last reply, as received
    delay_warned    BOOLEAN NOT NULL DEFAULT FALSE,  -- an RFC 3464 "delayed" notice was sent
    UNIQUE (message_id, address)
);
CREATE INDEX queue_recipients_due ON queue_recipients (status, next_attempt_at);
