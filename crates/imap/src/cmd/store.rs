//! STORE and UID STORE (RFC 9051 §6.4.6): change flags, answer with the new flags unless
//! `.SILENT`.
//!
//! What it keeps true: the snapshot's flags are updated from what the store committed, so a
//! later sync does not report the same change twice.

use crate::ImapContext;
use crate::cmd::append::flags_from_wire;
use crate::done::{CmdResult, Done};
use crate::response::Out;
use crate::selected::{Selected, flag_list};
use congvu_core::flags::FlagOp;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;

#[allow(clippy::too_many_arguments)]
pub async fn store(
    ctx: &ImapContext,
    out: &mut Out,
    sel: &mut Selected,
    set: &SequenceSet,
    kind: &StoreType,
    response: &StoreResponse,
    flags: &[Flag<'_>],
    uid: bool,
) -> CmdResult {
    if sel.read_only {
        return Err(Done::no(Some("READ-ONLY"), "mailbox is read-only"));
    }
    let indexes = sel.resolve(set, uid)?;
    if indexes.is_empty() {
        return Ok(Done::ok("STORE completed"));
    }
    let uids: Vec<u32> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
    let op = match kind {
        StoreType::Replace => FlagOp::Replace,
        StoreType::Add => FlagOp::Add,
        StoreType::Remove => FlagOp::Remove,
    };
    let result = ctx
        .store
        .store_flags(sel.folder.id, &uids, op, &flags_from_wire(flags), None)
        .await?;
    for updated in result.updated {
        let Some(i) = sel.index_of(updated.uid) else {
            continue;
        };
        let line = if uid {
            format!(
                "{} FETCH (UID {} FLAGS {})",
                i + 1,
                updated.uid,
                flag_list(&updated.flags)
            )
        } else {
            format!("{} FETCH (FLAGS {})", i + 1, flag_list(&updated.flags))
        };
        if matches!(response, StoreResponse::Answer) {
            out.untagged(&line);
        }
        sel.messages[i].flags = updated.flags;
        sel.messages[i].modseq = updated.modseq;
    }
    Ok(Done::ok("STORE completed"))
}
