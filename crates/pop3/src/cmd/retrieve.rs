//! RETR and TOP (RFC 1939 §5, §7): a message, or its header and first lines, read from the
//! blob store and sent as a byte-stuffed multi-line response by the session.
//!
//! Keeps true:
//! - The bytes sent are the stored message (the blob), so RETR gives back exactly what was
//!   delivered once the client removes the stuffing.
//! - RETR marks the message `\Seen` after the whole message was written (our choice; RFC 1939
//!   is silent), so webmail and IMAP show mail downloaded by POP3 as read. TOP changes nothing.
//! - A message expunged by another client since login is reported, not sent empty.

use std::sync::Arc;

use congvu_core::Flags;
use congvu_core::flags::{Flag, FlagOp};
use congvu_store::Uid;

use crate::cmd::listing::not_in_transaction;
use crate::command::MsgNum;
use crate::reply::{Reply, store_failure};
use crate::session::{Next, Session};
use crate::stuffing::top_part;

impl Session<'_> {
    pub(crate) async fn on_retr(&mut self, n: MsgNum, out: &mut Vec<u8>) -> Result<Next, Reply> {
        let (uid, size) = self.message_uid(n)?;
        let data = self.read_message(n, uid).await?;
        Reply::ok(format!("{size} octets")).write_to(out);
        let len = data.len();
        Ok(Next::SendMessage {
            data,
            len,
            mark_seen: Some(uid),
        })
    }

    pub(crate) async fn on_top(
        &mut self,
        n: MsgNum,
        lines: u64,
        out: &mut Vec<u8>,
    ) -> Result<Next, Reply> {
        let (uid, _) = self.message_uid(n)?;
        let data = self.read_message(n, uid).await?;
        let len = top_part(&data, lines).len();
        Reply::ok("Top of message follows").write_to(out);
        Ok(Next::SendMessage {
            data,
            len,
            mark_seen: None,
        })
    }

    /// Sets `\Seen` in the store after RETR; a failure is logged, since the client already has
    /// the message and RFC 1939 gives no way to report it.
    pub(crate) async fn mark_seen(&mut self, uid: Uid) {
        let Some(maildrop) = self.maildrop() else {
            return;
        };
        if maildrop.live().any(|(_, e)| e.uid == uid && e.seen) {
            return;
        }
        let folder = maildrop.folder.id;
        let mut seen = Flags::default();
        seen.set(Flag::Seen, true);
        match self
            .ctx
            .store
            .store_flags(folder, &[uid], FlagOp::Add, &seen, None)
            .await
        {
            Ok(_) => {
                if let Some(maildrop) = self.maildrop_mut() {
                    maildrop.mark_seen(uid);
                }
            }
            Err(error) => tracing::warn!(%error, uid, "pop3 could not mark a message seen"),
        }
    }

    fn message_uid(&self, n: MsgNum) -> Result<(Uid, u64), Reply> {
        let maildrop = self.maildrop().ok_or_else(not_in_transaction)?;
        let entry = maildrop.get(n)?;
        Ok((entry.uid, entry.size))
    }

    async fn read_message(&self, n: MsgNum, uid: Uid) -> Result<Arc<Vec<u8>>, Reply> {
        let maildrop = self.maildrop().ok_or_else(not_in_transaction)?;
        let records = self
            .ctx
            .store
            .fetch_records(maildrop.folder.id, &[uid])
            .await
            .map_err(|error| store_failure(&error))?;
        let Some(record) = records.into_iter().find(|r| r.summary.uid == uid) else {
            return Err(Reply::err(format!(
                "Message {n} was removed by another mail program since you logged in."
            )));
        };
        self.ctx
            .blobs
            .get(&record.blob)
            .await
            .map_err(|error| store_failure(&error))
    }
}
