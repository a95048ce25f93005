//! COPY, MOVE (RFC 6851) and EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315), with
//! COPYUID (RFC 4315 §3).
//!
//! What it keeps true: MOVE reports COPYUID in an untagged OK before its EXPUNGE responses
//! (RFC 6851 §4.3); every EXPUNGE sent removes the message from the snapshot at once, so the
//! sequence numbers reported stay consistent.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use crate::selected::{Selected, uid_set};
use congvu_store::{Account, Uid};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::SequenceSet;

#[allow(clippy::too_many_arguments)]
pub async fn copy(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    sel: &mut Selected,
    set: &SequenceSet,
    mailbox: &Mailbox<'_>,
    uid: bool,
    is_move: bool,
) -> CmdResult {
    let verb = if is_move { "MOVE" } else { "COPY" };
    if is_move && sel.read_only {
        return Err(Done::no(Some("READ-ONLY"), "mailbox is read-only"));
    }
    let indexes = sel.resolve(set, uid)?;
    let name = names::from_wire(mailbox, out.utf8)?;
    if is_move {
        // RFC 4314 §4: MOVE needs t and e on the source.
        sel.rights.need('t', "delete messages")?;
        sel.rights.need('e', "expunge")?;
    }
    let dest = crate::shared::resolve(ctx, account, &name).await?;
    let Some(target) = ctx.store.folder_by_name(dest.owner, &dest.folder).await? else {
        return Err(Done::no(Some("TRYCREATE"), "no such mailbox"));
    };
    dest.rights.need('i', "insert messages")?;
    if indexes.is_empty() {
        return Ok(Done::ok(format!("{verb} completed, nothing to do")));
    }
    let uids: Vec<Uid> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
    if !is_move && dest.unit.is_none() {
        // RFC 9208 §4.3: a COPY adds to the account's storage; a MOVE within it does not.
        let more: u64 = indexes.iter().map(|&i| sel.messages[i].size).sum();
        crate::cmd::quota::check_room(ctx, account, more).await?;
    }
    let result = if is_move {
        ctx.store
            .move_messages(sel.folder.id, &uids, target.id)
            .await?
    } else {
        ctx.store
            .copy_messages(sel.folder.id, &uids, target.id)
            .await?
    };
    let src: Vec<Uid> = result.pairs.iter().map(|p| p.0).collect();
    let dst: Vec<Uid> = result.pairs.iter().map(|p| p.1).collect();
    // R-POL-5: into Junk is "spam", out of Junk is "not spam" (`junk.rs`).
    if let Some(spam) = crate::cmd::junk::lesson_of_copy(&sel.folder, &target, is_move) {
        crate::cmd::junk::teach(ctx, target.account_id, target.id, &dst, spam).await;
    }
    let code = format!(
        "COPYUID {} {} {}",
        result.uidvalidity,
        uid_set(&src),
        uid_set(&dst)
    );
    if is_move {
        if !src.is_empty() {
            out.untagged(&format!("OK [{code}] moved"));
        }
        sel.forget(out, &src);
        return Ok(Done::ok("MOVE completed"));
    }
    if src.is_empty() {
        return Ok(Done::ok("COPY completed"));
    }
    Ok(Done::ok_code(code, "COPY completed"))
}

pub async fn expunge(
    ctx: &ImapContext,
    out: &mut Out,
    sel: &mut Selected,
    uid_filter: Option<&SequenceSet>,
) -> CmdResult {
    if sel.read_only {
        return Err(Done::no(Some("READ-ONLY"), "mailbox is read-only"));
    }
    let only: Option<Vec<Uid>> = match uid_filter {
        Some(set) => Some(
            sel.resolve(set, true)?
                .iter()
                .map(|&i| sel.messages[i].uid)
                .collect(),
        ),
        None => None,
    };
    sel.rights.need('e', "expunge")?;
    let removed = ctx.store.expunge(sel.folder.id, only.as_deref()).await?;
    sel.forget(out, &removed);
    Ok(Done::ok("EXPUNGE completed"))
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn compact_sets() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
