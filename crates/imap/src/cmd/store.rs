//! STORE and UID STORE (RFC 9051 §6.4.6): change flags, answer with the new flags unless
//! `.SILENT`; with UNCHANGEDSINCE (RFC 7162 §3.1.3) only messages not modified since the given
//! MODSEQ change, the others are listed in `[MODIFIED …]`.
//!
//! What it keeps true: the snapshot's flags are updated from what the store committed, so a
//! later sync does not report the same change twice; once CONDSTORE is enabled every FETCH
//! sent here carries MODSEQ, and with UNCHANGEDSINCE one is sent even for `.SILENT` so the
//! client learns the new MODSEQ (RFC 7162 §3.1.3).

use crate::ImapContext;
use crate::cmd::append::flags_from_wire;
use crate::done::{CmdResult, Done};
use crate::response::Out;
use crate::selected::{Selected, flag_list, uid_set};
use congvu_core::flags::FlagOp;
use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;
use std::fmt::Write as _;

/// What a STORE asks to change.
pub struct Change<'a, 'f> {
    pub kind: &'a StoreType,
    pub response: &'a StoreResponse,
    pub flags: &'a [Flag<'f>],
    pub modifiers: &'a [StoreModifier],
}

pub async fn store(
    ctx: &ImapContext,
    out: &mut Out,
    sel: &mut Selected,
    set: &SequenceSet,
    change: Change<'_, '_>,
    uid: bool,
) -> CmdResult {
    if sel.read_only {
        return Err(Done::no(Some("READ-ONLY"), "mailbox is read-only"));
    }
    let unchanged_since = change
        .modifiers
        .iter()
        .map(|StoreModifier::UnchangedSince(n)| *n)
        .next();
    if unchanged_since.is_some() {
        out.condstore = true; // RFC 7162 §3.1: UNCHANGEDSINCE enables CONDSTORE
    }
    // RFC 4314 §4: \Seen needs s, \Deleted needs t, every other flag w.
    for f in change.flags {
        let (right, what) = match f {
            Flag::Seen => ('s', "change \\Seen"),
            Flag::Deleted => ('t', "delete messages"),
            _ => ('w', "change flags"),
        };
        sel.rights.need(right, what)?;
    }
    if matches!(change.kind, StoreType::Replace) {
        for (right, what) in [
            ('s', "change \\Seen"),
            ('t', "delete messages"),
            ('w', "change flags"),
        ] {
            sel.rights.need(right, what)?;
        }
    }
    let indexes = sel.resolve(set, uid)?;
    if indexes.is_empty() {
        return Ok(Done::ok("STORE completed"));
    }
    let uids: Vec<u32> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
    let op = match change.kind {
        StoreType::Replace => FlagOp::Replace,
        StoreType::Add => FlagOp::Add,
        StoreType::Remove => FlagOp::Remove,
    };
    let result = ctx
        .store
        .store_flags(
            sel.folder.id,
            &uids,
            op,
            &flags_from_wire(change.flags),
            unchanged_since,
        )
        .await?;
    let silent = matches!(change.response, StoreResponse::Silent);
    for updated in result.updated {
        let Some(i) = sel.index_of(updated.uid) else {
            continue;
        };
        if !silent || unchanged_since.is_some() {
            let mut items: Vec<String> = Vec::new();
            if uid || out.condstore {
                items.push(format!("UID {}", updated.uid));
            }
            if !silent {
                items.push(format!("FLAGS {}", flag_list(&updated.flags)));
            }
            if out.condstore {
                items.push(format!("MODSEQ ({})", updated.modseq.max(1)));
            }
            let mut line = String::new();
            let _ = write!(line, "{} FETCH ({})", i + 1, items.join(" "));
            out.untagged(&line);
        }
        sel.messages[i].flags = updated.flags;
        sel.messages[i].modseq = updated.modseq;
    }
    if !result.modified.is_empty() {
        // RFC 7162 §3.1.3: UIDs for UID STORE, message numbers for STORE.
        let mut failed: Vec<u32> = if uid {
            result.modified.clone()
        } else {
            result
                .modified
                .iter()
                .filter_map(|u| sel.index_of(*u).map(|i| i as u32 + 1))
                .collect()
        };
        failed.sort_unstable();
        return Ok(Done::ok_code(
            format!("MODIFIED {}", uid_set(&failed)),
            "conditional STORE failed for some messages",
        ));
    }
    Ok(Done::ok("STORE completed"))
}
