//! The maildrop of one TRANSACTION state (RFC 1939 §5): the INBOX as it was at login,
//! numbered 1..n, with the session's deletion marks.
//!
//! Keeps true:
//! - Numbers never change during the session; a deleted message keeps its number and is
//!   refused by every command that names it (RFC 1939 §6 DELE).
//! - Messages another client already flagged `\Deleted` (awaiting an IMAP EXPUNGE) are left
//!   out, so POP3 never shows what the user has already thrown away.
//! - Deletion marks live only here until [`Maildrop::commit_deletions`] runs in the UPDATE
//!   state; only the UIDs this session marked are expunged, never other `\Deleted` messages.
//! - The maildrop lock lives as long as the maildrop.

use congvu_core::Flags;
use congvu_core::flags::{Flag, FlagOp};
use congvu_store::{Account, Folder, Store, StoreError, Uid};

use crate::command::MsgNum;
use crate::locks::MailboxLock;
use crate::reply::{Reply, store_failure};

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) uid: Uid,
    /// RFC822.SIZE: the blob's size with CRLF line ends.
    pub(crate) size: u64,
    pub(crate) seen: bool,
    pub(crate) deleted: bool,
}

pub(crate) struct Maildrop {
    pub(crate) account: Account,
    pub(crate) folder: Folder,
    entries: Vec<Entry>,
    _lock: MailboxLock,
}

impl Maildrop {
    /// Reads the account's INBOX. The caller holds the mailbox lock and hands it over.
    pub(crate) async fn open(
        store: &dyn Store,
        account: Account,
        lock: MailboxLock,
    ) -> Result<Maildrop, Reply> {
        let folder = match store.folder_by_name(account.id, "INBOX").await {
            Ok(Some(folder)) => folder,
            Ok(None) => {
                return Err(Reply::err_code(
                    crate::reply::Code::SysPerm,
                    "This account has no INBOX; please tell the administrator.",
                ));
            }
            Err(error) => return Err(store_failure(&error)),
        };
        let summaries = store
            .list_messages(folder.id)
            .await
            .map_err(|error| store_failure(&error))?;
        let entries = summaries
            .into_iter()
            .filter(|m| !m.flags.has(Flag::Deleted))
            .map(|m| Entry {
                uid: m.uid,
                size: m.size,
                seen: m.flags.has(Flag::Seen),
                deleted: false,
            })
            .collect();
        Ok(Maildrop {
            account,
            folder,
            entries,
            _lock: lock,
        })
    }

    /// The number of messages at login, deleted ones included (the highest valid number).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The message with this number, unless it does not exist or is marked deleted.
    pub(crate) fn get(&self, n: MsgNum) -> Result<&Entry, Reply> {
        let entry = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.entries.get(i));
        match entry {
            None => Err(Reply::err(format!(
                "There is no message {n}; this mailbox has {} messages.",
                self.len()
            ))),
            Some(entry) if entry.deleted => {
                Err(Reply::err(format!("Message {n} is already deleted.")))
            }
            Some(entry) => Ok(entry),
        }
    }

    /// Messages not marked deleted, with their numbers.
    pub(crate) fn live(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (i + 1, e))
    }

    /// STAT: the count and total size of the messages not marked deleted.
    pub(crate) fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(count, size), (_, e)| (count + 1, size + e.size))
    }

    /// The unique-id (RFC 1939 §7 UIDL): `<uidvalidity>.<uid>`, stable across sessions while
    /// UIDVALIDITY stays, and naming the same message IMAP does.
    pub(crate) fn unique_id(&self, entry: &Entry) -> String {
        format!("{}.{}", self.folder.uidvalidity, entry.uid)
    }

    pub(crate) fn mark_deleted(&mut self, n: MsgNum) -> Result<(), Reply> {
        self.get(n)?;
        // get() checked that n - 1 is an index.
        if let Some(entry) = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.entries.get_mut(i))
        {
            entry.deleted = true;
        }
        Ok(())
    }

    pub(crate) fn mark_seen(&mut self, uid: Uid) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.uid == uid) {
            entry.seen = true;
        }
    }

    /// RSET: removes every deletion mark of this session.
    pub(crate) fn unmark_all(&mut self) {
        for entry in &mut self.entries {
            entry.deleted = false;
        }
    }

    /// The UIDs this session marked for deletion, ascending.
    pub(crate) fn marked_uids(&self) -> Vec<Uid> {
        self.entries
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect()
    }

    /// The UPDATE state (RFC 1939 §6): flags the marked messages `\Deleted` and expunges
    /// exactly those. Returns how many were removed.
    pub(crate) async fn commit_deletions(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let uids = self.marked_uids();
        if uids.is_empty() {
            return Ok(0);
        }
        let mut deleted = Flags::default();
        deleted.set(Flag::Deleted, true);
        store
            .store_flags(self.folder.id, &uids, FlagOp::Add, &deleted, None)
            .await?;
        let removed = store.expunge(self.folder.id, Some(&uids)).await?;
        Ok(removed.len())
    }
}
