//! DELE and RSET (RFC 1939 §5): deletion marks, kept in the session until QUIT.
//!
//! Keeps true: neither command changes the store; DELE of a message already marked is an
//! error; RSET removes every mark this session made.

use crate::cmd::listing::not_in_transaction;
use crate::command::MsgNum;
use crate::reply::Reply;
use crate::session::Session;

impl Session<'_> {
    pub(crate) fn on_dele(&mut self, n: MsgNum, out: &mut Vec<u8>) -> Result<(), Reply> {
        let maildrop = self.maildrop_mut().ok_or_else(not_in_transaction)?;
        maildrop.mark_deleted(n)?;
        Reply::ok(format!("Message {n} will be deleted when you QUIT.")).write_to(out);
        Ok(())
    }

    pub(crate) fn on_rset(&mut self, out: &mut Vec<u8>) -> Result<(), Reply> {
        let maildrop = self.maildrop_mut().ok_or_else(not_in_transaction)?;
        maildrop.unmark_all();
        let (count, size) = maildrop.stat();
        Reply::ok(format!(
            "Nothing will be deleted; the mailbox has {count} messages ({size} octets)."
        ))
        .write_to(out);
        Ok(())
    }
}
