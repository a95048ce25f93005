-- congvu store schema, version 3: delegation of mailboxes (a unit mailbox kept by its
-- clerks, a person's mailbox read by a secretary).
--
-- One row per (mailbox, grantee): the RFC 4314 rights letters the grantee holds on the
-- mailbox, in canonical order ("lrswipkxtea"), never empty (an empty grant is no row).
-- Granting to oneself is refused by the store: the owner always holds every right.
-- WITHOUT ROWID: rows are read by their key (mailbox) or through grants_grantee (grantee);
-- PostgreSQL drops the clause, as in 0001.
-- Released migrations are never edited: add 0004_… instead.

CREATE TABLE grants (
    mailbox_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    grantee_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    rights     TEXT   NOT NULL CHECK (rights <> ''),
    PRIMARY KEY (mailbox_id, grantee_id),
    CHECK (mailbox_id <> grantee_id)
) WITHOUT ROWID;
CREATE INDEX grants_grantee ON grants (grantee_id, mailbox_id);
