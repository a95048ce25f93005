//! STORE and UID STORE (RFC 9051 §6.4.6): change flags, answer with the new flags unless
//! `.SILENT`; with UNCHANGEDSINCE (RFC 7162 §3.1.3) only messages not modified since the given
//! MODSEQ change, the others are listed in `[MODIFIED …]`.
//!
//! A keeper in a shared unit mailbox keeps their own \Seen (`private_store`).
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
use congvu_core::{Flag as CoreFlag, Flags};
use congvu_store::{MessageSummary, StoreFlagsResult, Uid};
use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;
use std::collections::HashMap;
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
    let wanted = flags_from_wire(change.flags);
    let result = match sel.private_seen.as_ref().map(|p| p.reader) {
        None => {
            ctx.store
                .store_flags(sel.folder.id, &uids, op, &wanted, unchanged_since)
                .await?
        }
        Some(reader) => {
            private_store(ctx, sel, reader, &uids, op, &wanted, unchanged_since).await?
        }
    };
    // R-POL-5: `$Junk` teaches "spam", `$NotJunk` "not spam" (`junk.rs`).
    if op != FlagOp::Remove
        && let Some(spam) = crate::cmd::junk::lesson_of_keywords(&wanted.keywords)
    {
        let taught: Vec<Uid> = uids
            .iter()
            .copied()
            .filter(|u| !result.modified.contains(u))
            .collect();
        crate::cmd::junk::teach(ctx, sel.folder.account_id, sel.folder.id, &taught, spam).await;
    }
    let silent = matches!(change.response, StoreResponse::Silent);
    for mut updated in result.updated {
        let Some(i) = sel.index_of(updated.uid) else {
            continue;
        };
        sel.overlay(&mut updated);
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
    sel.advance_after_own_change(result.modseq);
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

/// STORE for a keeper whose \Seen is their own: \Seen goes to the private table, every other
/// flag to the message (the unit's). A replacement is done as "add the wanted flags, remove
/// the others", so the unit's own \Seen is never touched. Returns what changed, as the
/// store would, with the keeper's view of \Seen applied by the caller.
async fn private_store(
    ctx: &ImapContext,
    sel: &mut Selected,
    reader: congvu_store::AccountId,
    uids: &[Uid],
    op: FlagOp,
    wanted: &Flags,
    unchanged_since: Option<u64>,
) -> Result<StoreFlagsResult, Done> {
    let wants_seen = wanted.has(CoreFlag::Seen);
    let mut shared = wanted.clone();
    shared.set(CoreFlag::Seen, false);
    let seen_change = match op {
        FlagOp::Add => wants_seen.then_some(true),
        FlagOp::Remove => wants_seen.then_some(false),
        FlagOp::Replace => Some(wants_seen),
    };
    let mut calls: Vec<(FlagOp, Flags)> = Vec::new();
    if op == FlagOp::Replace {
        let mut others = Flags::default();
        for &u in uids {
            if let Some(i) = sel.index_of(u) {
                let f = &sel.messages[i].flags;
                others.system |= f.system;
                others.keywords.extend(f.keywords.iter().cloned());
            }
        }
        others.system &= !shared.system;
        others.keywords.retain(|k| !shared.keywords.contains(k));
        others.set(CoreFlag::Seen, false);
        calls.push((FlagOp::Add, shared));
        calls.push((FlagOp::Remove, others));
    } else {
        calls.push((op, shared));
    }
    let mut changed: HashMap<Uid, MessageSummary> = HashMap::new();
    let mut modified: Vec<Uid> = Vec::new();
    for (op, flags) in calls {
        if flags.system == 0 && flags.keywords.is_empty() {
            continue;
        }
        let r = ctx
            .store
            .store_flags(sel.folder.id, uids, op, &flags, unchanged_since)
            .await?;
        changed.extend(r.updated.into_iter().map(|m| (m.uid, m)));
        modified.extend(r.modified);
    }
    if let Some(on) = seen_change {
        let targets: Vec<Uid> = uids
            .iter()
            .copied()
            .filter(|u| !modified.contains(u))
            .collect();
        ctx.store
            .set_private_seen(reader, sel.folder.id, &targets, on)
            .await?;
        for u in targets {
            if let Some(p) = sel.private_seen.as_mut() {
                if on {
                    p.uids.insert(u);
                } else {
                    p.uids.remove(&u);
                }
            }
            if !changed.contains_key(&u)
                && let Some(i) = sel.index_of(u)
            {
                changed.insert(u, sel.messages[i].clone());
            }
        }
    }
    let mut updated: Vec<MessageSummary> = changed.into_values().collect();
    updated.sort_by_key(|m| m.uid);
    modified.sort_unstable();
    modified.dedup();
    Ok(StoreFlagsResult {
        updated,
        modified,
        modseq: None,
    })
}
