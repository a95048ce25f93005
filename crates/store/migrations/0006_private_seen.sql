-- congvu store schema, version 6: a keeper's own \Seen in a unit mailbox shared with them
-- (RFC 4314 `s` right: "keep seen/unseen information across sessions").
--
-- One row per (reader, folder, uid) the reader has seen. The message's own \Seen flag stays
-- the unit's; these rows never change a message's flags or MODSEQ. Rows of expunged
-- messages are harmless (UIDs are never reused while UIDVALIDITY stays) and go with the
-- folder or the account.
-- WITHOUT ROWID: rows are read by their key prefix (reader, folder).

CREATE TABLE private_seen (
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    folder_id  BIGINT  NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    PRIMARY KEY (account_id, folder_id, uid)
) WITHOUT ROWID;
