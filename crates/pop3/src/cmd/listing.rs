//! STAT, LIST and UIDL (RFC 1939 §5, §7): counts, sizes and unique-ids of the messages not
//! marked deleted.
//!
//! Keeps true: sizes are RFC822.SIZE as stored at delivery (the message with CRLF line ends,
//! before byte-stuffing), so LIST, STAT and IMAP agree; a deleted message is never listed and
//! naming one is an error (RFC 1939 §5 LIST).

use crate::command::MsgNum;
use crate::reply::Reply;
use crate::session::Session;
use crate::stuffing::TERMINATOR;

/// The error for a TRANSACTION command outside TRANSACTION; `session.rs` never lets it happen.
pub(crate) fn not_in_transaction() -> Reply {
    Reply::err("Please log in first (USER and PASS, or AUTH PLAIN).")
}

impl Session<'_> {
    pub(crate) fn on_stat(&mut self, out: &mut Vec<u8>) -> Result<(), Reply> {
        let maildrop = self.maildrop().ok_or_else(not_in_transaction)?;
        let (count, size) = maildrop.stat();
        // RFC 1939 §5 STAT: "+OK" count size, nothing else on the line.
        Reply::ok(format!("{count} {size}")).write_to(out);
        Ok(())
    }

    pub(crate) fn on_list(&mut self, n: Option<MsgNum>, out: &mut Vec<u8>) -> Result<(), Reply> {
        let maildrop = self.maildrop().ok_or_else(not_in_transaction)?;
        match n {
            Some(n) => {
                let entry = maildrop.get(n)?;
                Reply::ok(format!("{n} {}", entry.size)).write_to(out);
            }
            None => {
                let (count, size) = maildrop.stat();
                Reply::ok(format!("{count} messages ({size} octets)")).write_to(out);
                for (number, entry) in maildrop.live() {
                    out.extend_from_slice(format!("{number} {}\r\n", entry.size).as_bytes());
                }
                out.extend_from_slice(TERMINATOR);
            }
        }
        Ok(())
    }

    pub(crate) fn on_uidl(&mut self, n: Option<MsgNum>, out: &mut Vec<u8>) -> Result<(), Reply> {
        let maildrop = self.maildrop().ok_or_else(not_in_transaction)?;
        match n {
            Some(n) => {
                let entry = maildrop.get(n)?;
                Reply::ok(format!("{n} {}", maildrop.unique_id(entry))).write_to(out);
            }
            None => {
                Reply::ok("Unique-id listing follows").write_to(out);
                for (number, entry) in maildrop.live() {
                    let line = format!("{number} {}\r\n", maildrop.unique_id(entry));
                    out.extend_from_slice(line.as_bytes());
                }
                out.extend_from_slice(TERMINATOR);
            }
        }
        Ok(())
    }
}
