//! The session's view of the selected folder (RFC 9051 §2.3.1.2): message sequence numbers
//! mapped to UIDs, flags as last reported, and the MODSEQ the view is synchronised to.
//!
//! What it keeps true: sequence numbers change only when this session reports them (EXISTS,
//! EXPUNGE), and EXPUNGE is never reported while answering FETCH, STORE or SEARCH by sequence
//! number (RFC 9051 §7.5.1); the snapshot then waits until a command where it is allowed.
//! The snapshot is ordered by UID, which is the order of sequence numbers.

use crate::done::Done;
use crate::response::Out;
use crate::shared::Rights;
use congvu_core::{Flag, Flags};
use congvu_store::{AccountId, Folder, MessageSummary, ModSeq, Store, StoreError, Uid};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The snapshot's messages in UID order, shared with the store's view of the folder (and with
/// other sessions that opened it) until this session changes them: the first change copies
/// (`Arc::make_mut`), so SELECT of a 100,000-message folder copies nothing.
#[derive(Debug, Clone, Default)]
pub struct Messages(Arc<Vec<MessageSummary>>);

impl Deref for Messages {
    type Target = Vec<MessageSummary>;
    fn deref(&self) -> &Vec<MessageSummary> {
        &self.0
    }
}

impl DerefMut for Messages {
    fn deref_mut(&mut self) -> &mut Vec<MessageSummary> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<MessageSummary>> for Messages {
    fn from(v: Vec<MessageSummary>) -> Messages {
        Messages(Arc::new(v))
    }
}

impl From<Arc<Vec<MessageSummary>>> for Messages {
    fn from(v: Arc<Vec<MessageSummary>>) -> Messages {
        Messages(v)
    }
}

pub struct Selected {
    pub folder: Folder,
    pub read_only: bool,
    pub messages: Messages,
    /// Every change up to this MODSEQ has been reported.
    pub modseq: ModSeq,
    /// The user's RFC 4314 rights on the folder (all of them on their own folders).
    pub rights: Rights,
    /// For a keeper in a shared unit mailbox: their own \Seen, which replaces the message's
    /// \Seen (the unit's) in everything this session reports (`shared.rs`).
    pub private_seen: Option<Box<PrivateSeen>>,
    /// The search result saved by `SEARCH RETURN (SAVE)` for `$` (RFC 5182), as UIDs so that
    /// expunged messages drop out of it by themselves.
    pub saved: Vec<Uid>,
}

/// Writes UIDs as a compact set: `1:3,7`.
pub fn uid_set(uids: &[Uid]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A reader's own \Seen in a folder that is not theirs.
#[derive(Debug, Clone)]
pub struct PrivateSeen {
    pub reader: AccountId,
    pub uids: HashSet<Uid>,
}

/// Whether `uid` is in a UID set given by the client; `*` stands for the largest UID
/// (RFC 9051 §6.4.8: for a UID set, `n:*` includes every UID from n up).
pub fn uid_in(set: &SequenceSet, uid: Uid) -> bool {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(x) => x.get(),
        SeqOrUid::Asterisk => Uid::MAX,
    };
    set.0.as_ref().iter().any(|seq| {
        let (a, b) = match seq {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(x, y) => (value(x), value(y)),
        };
        (a.min(b)..=a.max(b)).contains(&uid)
    })
}

/// Writes a flag list `(\Seen $Label)`.
pub fn flag_list(flags: &Flags) -> String {
    format!("({})", flags.names().join(" "))
}

impl Selected {
    /// Puts the reader's own \Seen into a summary read from the store (no-op for own folders).
    pub fn overlay(&self, m: &mut MessageSummary) {
        if let Some(p) = &self.private_seen {
            m.flags.set(Flag::Seen, p.uids.contains(&m.uid));
        }
    }

    pub fn new(folder: Folder, read_only: bool, messages: impl Into<Messages>) -> Self {
        let modseq = folder.highest_modseq;
        Selected {
            folder,
            read_only,
            messages: messages.into(),
            modseq,
            saved: Vec::new(),
            rights: Rights::all(),
            private_seen: None,
        }
    }

    pub fn exists(&self) -> u32 {
        self.messages.len() as u32
    }

    pub fn index_of(&self, uid: Uid) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Resolves a sequence set (or UID set) to snapshot indexes in ascending order.
    /// RFC 9051 §6.4.8: UIDs that do not exist are ignored; message numbers beyond the mailbox
    /// are an error.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Done> {
        let mut hits = vec![false; self.messages.len()];
        let n = self.messages.len() as u32;
        let last_uid = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let value = |v: &SeqOrUid| match v {
            SeqOrUid::Value(x) => x.get(),
            SeqOrUid::Asterisk => {
                if uid {
                    last_uid
                } else {
                    n
                }
            }
        };
        for seq in set.0.as_ref() {
            let (a, b) = match seq {
                Sequence::Single(v) => (value(v), value(v)),
                Sequence::Range(x, y) => (value(x), value(y)),
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if uid {
                let start = self.messages.partition_point(|m| m.uid < lo);
                for (i, m) in self.messages.iter().enumerate().skip(start) {
                    if m.uid > hi {
                        break;
                    }
                    hits[i] = true;
                }
            } else {
                // "1:*" or "*" in an empty mailbox matches nothing rather than failing, as
                // clients routinely send it right after SELECT.
                let has_star = matches!(
                    seq,
                    Sequence::Single(SeqOrUid::Asterisk)
                        | Sequence::Range(SeqOrUid::Asterisk, _)
                        | Sequence::Range(_, SeqOrUid::Asterisk)
                );
                if n == 0 && has_star {
                    continue;
                }
                if hi > n || lo == 0 {
                    return Err(Done::bad("message sequence number out of range"));
                }
                for i in lo..=hi {
                    hits[(i - 1) as usize] = true;
                }
            }
        }
        Ok(hits
            .iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(i, _)| i)
            .collect())
    }

    /// Removes the given UIDs from the view and reports them: one EXPUNGE per message
    /// (RFC 9051 §7.5.1, each renumbering the ones after it), or a single `VANISHED` with the
    /// UIDs once QRESYNC is enabled (RFC 7162 §3.2.10). UIDs not in the view are skipped.
    pub fn forget(&mut self, out: &mut Out, uids: &[Uid]) {
        let mut vanished = Vec::new();
        for uid in uids {
            if let Some(i) = self.index_of(*uid) {
                self.messages.remove(i);
                if out.qresync {
                    vanished.push(*uid);
                } else {
                    out.untagged(&format!("{} EXPUNGE", i + 1));
                }
            }
        }
        if !vanished.is_empty() {
            vanished.sort_unstable();
            out.untagged(&format!("VANISHED {}", uid_set(&vanished)));
        }
    }

    /// After this session's own change took `modseq`: when that is the very next MODSEQ, no
    /// other change came between, and the view (already updated by the caller) is current
    /// to it without asking the store. Otherwise the next `sync` reads what came between.
    pub fn advance_after_own_change(&mut self, modseq: Option<ModSeq>) {
        if let Some(m) = modseq
            && Some(m) == self.modseq.checked_add(1)
        {
            self.modseq = m;
        }
    }

    /// Brings the view up to date with the store and reports what changed: EXPUNGE (only when
    /// `allow_expunge`), EXISTS for new messages, FETCH FLAGS for changed flags.
    pub async fn sync(
        &mut self,
        store: &dyn Store,
        out: &mut Out,
        allow_expunge: bool,
    ) -> Result<(), StoreError> {
        // Most commands follow no change at all: then the store says so without a query.
        if store.unchanged_since(self.folder.id, self.modseq) {
            return Ok(());
        }
        let changes = store.changes_since(self.folder.id, self.modseq).await?;
        if changes.highest_modseq <= self.modseq
            && changes.expunged.is_empty()
            && changes.changed.is_empty()
        {
            return Ok(());
        }
        let pending_expunge = changes.expunged.iter().any(|u| self.index_of(*u).is_some());
        if pending_expunge && !allow_expunge {
            // Report nothing now; the same changes are read again at the next allowed point.
            return Ok(());
        }
        self.forget(out, &changes.expunged);
        let last_uid = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let mut added = false;
        for mut m in changes.changed {
            self.overlay(&mut m);
            if let Some(i) = self.index_of(m.uid) {
                let known = &self.messages[i];
                if *known == m {
                    // Already in the view (it came from the store at a later MODSEQ than
                    // `self.modseq`): nothing to report, and no copy of a shared view.
                    continue;
                }
                // RFC 7162 §3.1.4: with CONDSTORE a MODSEQ change alone is worth reporting.
                if known.flags != m.flags || (out.condstore && known.modseq != m.modseq) {
                    let mut line = String::new();
                    let _ = write!(
                        line,
                        "{} FETCH (UID {} FLAGS {}",
                        i + 1,
                        m.uid,
                        flag_list(&m.flags)
                    );
                    if out.condstore {
                        let _ = write!(line, " MODSEQ ({})", m.modseq.max(1));
                    }
                    line.push(')');
                    out.untagged(&line);
                }
                self.messages[i] = m;
            } else if m.uid > last_uid {
                self.messages.push(m);
                added = true;
            }
        }
        if added {
            self.messages.sort_by_key(|m| m.uid);
            out.untagged(&format!("{} EXISTS", self.exists()));
        }
        self.modseq = self.modseq.max(changes.highest_modseq);
        self.folder.uidnext = self.folder.uidnext.max(changes.uidnext);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn view(uids: &[u32]) -> Selected {
        let folder = Folder {
            id: 1,
            account_id: 1,
            name: "INBOX".into(),
            special_use: None,
            uidvalidity: 7,
            uidnext: 100,
            highest_modseq: 1,
            subscribed: true,
        };
        let messages: Vec<MessageSummary> = uids
            .iter()
            .map(|&uid| MessageSummary {
                uid,
                modseq: 1,
                flags: Flags::default(),
                internal_date: 0,
                size: 1,
            })
            .collect();
        Selected::new(folder, false, messages)
    }

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    #[test]
    fn sequence_numbers() {
        let v = view(&[3, 5, 9, 12]);
        assert_eq!(v.resolve(&set("2:3"), false).unwrap(), vec![1, 2]);
        assert_eq!(v.resolve(&set("*"), false).unwrap(), vec![3]);
        assert_eq!(v.resolve(&set("4,1,2"), false).unwrap(), vec![0, 1, 3]);
        assert!(v.resolve(&set("5"), false).is_err());
    }

    #[test]
    fn uid_sets() {
        let v = view(&[3, 5, 9, 12]);
        assert_eq!(v.resolve(&set("4:10"), true).unwrap(), vec![1, 2]);
        assert_eq!(v.resolve(&set("100:*"), true).unwrap(), vec![3]);
        assert_eq!(v.resolve(&set("1:2"), true).unwrap(), Vec::<usize>::new());
        assert_eq!(v.index_of(9), Some(2));
        assert_eq!(
            view(&[]).resolve(&set("1:*"), true).unwrap(),
            Vec::<usize>::new()
        );
        let _ = NonZeroU32::MIN;
    }
}
