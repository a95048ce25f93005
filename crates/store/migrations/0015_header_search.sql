-- congvu store schema, version 15: the header search text (subject, from, to, cc, bcc; exact
-- and diacritic-folded) in a narrow table of its own, so SEARCH SUBJECT/FROM/TO/CC/BCC reads
-- a few hundred bytes per message. In `messages` those columns come after the body text, so
-- reaching them walked each row's overflow pages (the body): a SUBJECT search of a
-- 1,000-message folder read every message's body pages. BODY and TEXT searches still read
-- `messages`.
--
-- The copy never changes (a message is immutable); the trigger fills it for every new
-- message row, so no insert path can forget it, and the foreign key removes it with the row
-- (garbage collection). A PostgreSQL port inserts it beside the message row.

CREATE TABLE message_header_text (
    hash           TEXT NOT NULL PRIMARY KEY REFERENCES messages (hash) ON DELETE CASCADE,
    exact_subject  TEXT NOT NULL,
    exact_from     TEXT NOT NULL,
    exact_to       TEXT NOT NULL,
    exact_cc       TEXT NOT NULL,
    exact_bcc      TEXT NOT NULL,
    folded_subject TEXT NOT NULL,
    folded_from    TEXT NOT NULL,
    folded_to      TEXT NOT NULL,
    folded_cc      TEXT NOT NULL,
    folded_bcc     TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO message_header_text
SELECT hash, search_exact_subject, search_exact_from, search_exact_to, search_exact_cc,
       search_exact_bcc, search_folded_subject, search_folded_from, search_folded_to,
       search_folded_cc, search_folded_bcc
FROM messages;

CREATE TRIGGER messages_header_text AFTER INSERT ON messages
BEGIN
    INSERT INTO message_header_text
    VALUES (NEW.hash, NEW.search_exact_subject, NEW.search_exact_from, NEW.search_exact_to,
            NEW.search_exact_cc, NEW.search_exact_bcc, NEW.search_folded_subject,
            NEW.search_folded_from, NEW.search_folded_to, NEW.search_folded_cc,
            NEW.search_folded_bcc);
END;
