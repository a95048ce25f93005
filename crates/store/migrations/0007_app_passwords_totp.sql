-- congvu store schema, version 7: per-device app passwords, the TOTP second factor, and the
-- password-expiry warnings already mailed (R-POL-2).
--
-- App passwords let a mail program (Thunderbird, Outlook, a phone) log in over IMAP, POP3 and
-- SMTP without the main password, so a mailbox with TOTP can still use clients that cannot ask
-- for a code. Only the Argon2id hash is kept; the password is shown once when it is made.
-- A label names the device and is unique within the mailbox, so it is what `revoke` names.

CREATE TABLE app_passwords (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    UNIQUE (account_id, label)
);

-- The RFC 6238 shared secret of a mailbox with the second factor on (one row = enabled).
-- last_step is the newest time step a code was accepted for, so a code is used only once
-- (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same OTP").
CREATE TABLE totp_secrets (
    account_id BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret     BLOB    NOT NULL,
    enabled_at BIGINT  NOT NULL,
    last_step  BIGINT
);

-- One row per warning mailed: for the password set at password_changed_at, `days` (14, 7 or
-- 1) before it expires. A new password has a new password_changed_at, so its warnings start
-- over; old rows are harmless.
CREATE TABLE password_expiry_warnings (
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password_changed_at BIGINT  NOT NULL,
    days                INTEGER NOT NULL,
    sent_at             BIGINT  NOT NULL,
    PRIMARY KEY (account_id, password_changed_at, days)
) WITHOUT ROWID;
