-- congvu store schema, version 12: what users taught the spam filter (R-POL-5).
--
-- Counts are kept per mail domain (account_id = 0) and per mailbox (account_id = the owner);
-- a message a user marks is counted in both, and the classifier adds the mailbox's counts to the
-- domain's with a weight once the mailbox has taught enough. Tokens are stored as 64-bit hashes
-- (BLAKE3 of the folded word), never as text: the table does not keep the words of anyone's mail.
-- WITHOUT ROWID: rows are read and written by their key.

-- How many messages were taught as spam and as ham, per scope.
CREATE TABLE bayes_totals (
    domain        TEXT    NOT NULL,
    account_id    BIGINT  NOT NULL,
    spam_messages INTEGER NOT NULL DEFAULT 0,
    ham_messages  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (domain, account_id)
) WITHOUT ROWID;

-- In how many taught spam / ham messages each token appeared, per scope.
CREATE TABLE bayes_tokens (
    domain     TEXT    NOT NULL,
    account_id BIGINT  NOT NULL,
    token      INTEGER NOT NULL,
    spam       INTEGER NOT NULL DEFAULT 0,
    ham        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (domain, account_id, token)
) WITHOUT ROWID;

-- Which message (by blob) a mailbox taught, and as what: moving the same message into Junk twice
-- teaches once; moving it back out unteaches it and teaches the other way.
CREATE TABLE bayes_trained (
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    blob_hash  TEXT    NOT NULL,
    domain     TEXT    NOT NULL,
    spam       INTEGER NOT NULL,
    trained_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, blob_hash)
) WITHOUT ROWID;
