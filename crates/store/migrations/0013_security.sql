-- congvu store schema, version 13: abnormal use of a mailbox (R-POL-9).
--
-- Failed-login counts per scope (a login from one IP address, one IP address, one login from
-- anywhere), the networks each mailbox has logged in from, hourly send counts, security
-- events waiting to be mailed to the user and the operator, and outbound holds.
-- Released migrations are never edited: add a new numbered file instead.

CREATE TABLE login_failures (
    scope          TEXT    NOT NULL CHECK (scope IN ('pair', 'ip', 'account')),
    key            TEXT    NOT NULL,          -- 'login|ip', 'ip' or 'login'
    failures       BIGINT  NOT NULL,
    last_failure   BIGINT  NOT NULL,          -- seconds since the epoch
    blocked_until  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key)
);

CREATE TABLE login_networks (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    network     TEXT   NOT NULL,              -- '203.0.113.0/24', '2001:db8:1::/48'
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (account_id, network)
);

CREATE TABLE send_hours (
    account_id  BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hour        BIGINT  NOT NULL,             -- seconds since the epoch / 3600
    messages    BIGINT  NOT NULL,
    flagged     BOOLEAN NOT NULL DEFAULT FALSE, -- an anomaly was raised for this hour
    PRIMARY KEY (account_id, hour)
);

CREATE TABLE security_events (
    id           INTEGER PRIMARY KEY,
    at           BIGINT NOT NULL,
    kind         TEXT   NOT NULL,             -- 'security.bruteforce', 'security.new_network', …
    account_id   BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    address      TEXT   NOT NULL,             -- the login concerned
    source_ip    TEXT   NOT NULL DEFAULT '',
    detail       TEXT   NOT NULL DEFAULT '',
    notified_at  BIGINT                       -- when the notices were delivered
);
CREATE INDEX security_events_pending ON security_events (notified_at) WHERE notified_at IS NULL;

-- A mailbox whose remote mail waits for the operator.
CREATE TABLE outbound_holds (
    address     TEXT   PRIMARY KEY,           -- the login, lowercase
    account_id  BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    since       BIGINT NOT NULL,
    reason      TEXT   NOT NULL
);

-- Queued messages parked by a hold: their pending recipients are not due until released.
CREATE TABLE queue_holds (
    message_id  BIGINT PRIMARY KEY REFERENCES queue_messages (id) ON DELETE CASCADE,
    address     TEXT   NOT NULL,
    held_at     BIGINT NOT NULL
);
