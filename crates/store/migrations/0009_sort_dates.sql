-- congvu store schema, version 9: the Date header of each message copied into its mailbox
-- entries, so SORT (DATE) (RFC 5256 §2.2) reads the folder's own rows, in primary-key order,
-- instead of joining every entry to its wide `messages` row (search text is stored inline,
-- so each of those rows sits on its own pages: 1.8 s for a 100,000-message folder).
--
-- NULL means the message has no usable Date header (SORT then uses the internal date), as
-- in messages.sent_at. The copy never changes: a message body is immutable.
--
-- The trigger fills the copy for every way an entry is made (delivery, APPEND, COPY/MOVE,
-- renaming INBOX), so no INSERT can forget it; a PostgreSQL port sets it in those INSERTs.

ALTER TABLE mailbox_entries ADD COLUMN sent_at BIGINT;

UPDATE mailbox_entries
SET sent_at = (SELECT m.sent_at FROM messages m WHERE m.hash = mailbox_entries.message_hash);

CREATE TRIGGER mailbox_entries_sent_at AFTER INSERT ON mailbox_entries
WHEN NEW.sent_at IS NULL
BEGIN
    UPDATE mailbox_entries
    SET sent_at = (SELECT m.sent_at FROM messages m WHERE m.hash = NEW.message_hash)
    WHERE folder_id = NEW.folder_id AND uid = NEW.uid;
END;
