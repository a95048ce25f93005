//! What this process knows of each folder's head (its highest MODSEQ, and its row) without
//! asking the database: lets an IMAP session skip `changes_since` after a command when nothing
//! changed (`Store::unchanged_since`), and SELECT find its folder row without a query.
//!
//! What this keeps true:
//! - A folder's known MODSEQ is never above the database's and is behind it only for a
//!   change committed by ANOTHER process (the CLI) and not yet noticed: every commit of this
//!   process records its MODSEQ here (`committed`) before its caller is answered, and reads
//!   record what their snapshot saw (`observed`), never lowering a value (MODSEQs only grow).
//! - Another process's commits are noticed by `watch_other_writers` (`PRAGMA data_version`
//!   on the write connection changes only when a connection other than it commits): it
//!   forgets everything and starts a new epoch. A read that began in an older epoch records
//!   nothing, so a snapshot taken before the other process's commit cannot restore a stale
//!   value. Such changes are therefore reported within [`WATCH_INTERVAL`], this process's own
//!   at once.
//! - A cached folder row is used only while the folder's known MODSEQ equals the row's
//!   `highest_modseq` (every change to `uidnext` also takes a MODSEQ, `rows::allocate`), and
//!   every change to names or subscriptions (`folders.rs`) drops the cached rows and starts a
//!   new epoch (a read of the old names under way then caches nothing).

use crate::{AccountId, Folder, FolderId, ModSeq};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often another process's commits are looked for (the CLI delivering a released
/// quarantined message, purging a mailbox): the delay before an IMAP session reports them.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Bound on cached folder rows (a few hundred bytes each); beyond it they are all dropped and
/// read again as needed.
const CACHED_ROWS_MAX: usize = 10_000;

#[derive(Default)]
pub(crate) struct Heads {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    epoch: u64,
    modseq: HashMap<FolderId, ModSeq>,
    rows: HashMap<(AccountId, String), Folder>,
}

impl Heads {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain maps behind, still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The epoch a read must note before its first query, for `observed`/`remember_row`.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// A commit of this process gave `folder` this MODSEQ.
    pub fn committed(&self, folder: FolderId, modseq: ModSeq) {
        let mut inner = self.lock();
        let known = inner.modseq.entry(folder).or_insert(modseq);
        *known = (*known).max(modseq);
    }

    /// A read that began in `epoch` saw `folder` at this MODSEQ.
    pub fn observed(&self, epoch: u64, folder: FolderId, modseq: ModSeq) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        let known = inner.modseq.entry(folder).or_insert(modseq);
        *known = (*known).max(modseq);
    }

    /// True only when nothing in `folder` changed after `modseq` (as far as this process can
    /// tell, see the module notes); false whenever unsure.
    pub fn unchanged_since(&self, folder: FolderId, modseq: ModSeq) -> bool {
        self.lock().modseq.get(&folder) == Some(&modseq)
    }

    /// The cached row of `account`'s folder `name` (canonical), if it is current.
    pub fn row(&self, account: AccountId, name: &str) -> Option<Folder> {
        let inner = self.lock();
        let row = inner.rows.get(&(account, name.to_string()))?;
        (inner.modseq.get(&row.id) == Some(&row.highest_modseq)).then(|| row.clone())
    }

    /// Caches a folder row read in `epoch` under its canonical name.
    pub fn remember_row(&self, epoch: u64, row: &Folder) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        let known = inner.modseq.entry(row.id).or_insert(row.highest_modseq);
        *known = (*known).max(row.highest_modseq);
        if inner.rows.len() >= CACHED_ROWS_MAX {
            inner.rows.clear();
        }
        inner
            .rows
            .insert((row.account_id, row.name.clone()), row.clone());
    }

    /// Folder names, subscriptions or the set of folders changed (call after the commit):
    /// drop every cached row, and start a new epoch so that a read of the old rows still under
    /// way cannot put one back.
    pub fn forget_rows(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.rows.clear();
    }

    /// Another process committed something: forget everything, start a new epoch.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.modseq.clear();
        inner.rows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: FolderId, modseq: ModSeq) -> Folder {
        Folder {
            id,
            account_id: 1,
            name: "INBOX".into(),
            special_use: None,
            uidvalidity: 1,
            uidnext: 5,
            highest_modseq: modseq,
            subscribed: true,
        }
    }

    #[test]
    fn unknown_until_seen_and_only_equal_counts() {
        let h = Heads::default();
        assert!(!h.unchanged_since(7, 3));
        h.observed(h.epoch(), 7, 3);
        assert!(h.unchanged_since(7, 3));
        h.committed(7, 4);
        assert!(!h.unchanged_since(7, 3));
        // An older snapshot never lowers what a commit recorded.
        h.observed(h.epoch(), 7, 3);
        assert!(h.unchanged_since(7, 4));
    }

    #[test]
    fn another_process_forgets_and_stale_reads_are_ignored() {
        let h = Heads::default();
        let before = h.epoch();
        h.committed(7, 4);
        h.forget_all();
        assert!(!h.unchanged_since(7, 4));
        h.observed(before, 7, 4);
        assert!(!h.unchanged_since(7, 4));
        h.remember_row(before, &folder(7, 4));
        assert!(h.row(1, "INBOX").is_none());
    }

    #[test]
    fn rows_are_current_only_at_the_known_modseq() {
        let h = Heads::default();
        h.remember_row(h.epoch(), &folder(7, 4));
        assert_eq!(h.row(1, "INBOX").map(|f| f.id), Some(7));
        h.committed(7, 5);
        assert!(h.row(1, "INBOX").is_none());
        let before = h.epoch();
        h.remember_row(before, &folder(7, 5));
        h.forget_rows();
        assert!(h.row(1, "INBOX").is_none());
        // A read of the rows from before the change puts nothing back; MODSEQs stay known.
        h.remember_row(before, &folder(7, 5));
        assert!(h.row(1, "INBOX").is_none());
        assert!(h.unchanged_since(7, 5));
    }
}
