//! SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3): open a folder and report its state.
//!
//! What it keeps true: the snapshot returned is the view every later sequence number refers
//! to; EXAMINE (and nothing else) opens it read-only.

use crate::ImapContext;
use crate::done::Done;
use crate::names;
use crate::response::Out;
use crate::selected::Selected;
use congvu_core::Flag;
use congvu_store::Account;
use imap_codec::imap_types::mailbox::Mailbox;

pub async fn select(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
    read_only: bool,
) -> Result<(Selected, Done), Done> {
    let name = names::from_wire(mailbox, out.utf8)?;
    let Some(folder) = ctx.store.folder_by_name(account.id, &name).await? else {
        return Err(Done::no(Some("NONEXISTENT"), "no such mailbox"));
    };
    let messages = ctx.store.list_messages(folder.id).await?;
    let selected = Selected::new(folder, read_only, messages);
    let folder = &selected.folder;
    let flags = Flag::ALL.map(Flag::name).join(" ");
    out.untagged(&format!("FLAGS ({flags})"));
    out.untagged(&format!("{} EXISTS", selected.exists()));
    out.untagged("0 RECENT");
    if let Some(i) = selected
        .messages
        .iter()
        .position(|m| !m.flags.has(Flag::Seen))
    {
        out.untagged(&format!("OK [UNSEEN {}] first unseen message", i + 1));
    }
    out.untagged(&format!(
        "OK [UIDVALIDITY {}] UIDs valid",
        folder.uidvalidity
    ));
    let uidnext = folder.uidnext.max(
        selected
            .messages
            .last()
            .map(|m| m.uid.saturating_add(1))
            .unwrap_or(1),
    );
    out.untagged(&format!("OK [UIDNEXT {uidnext}] predicted next UID"));
    if read_only {
        out.untagged("OK [PERMANENTFLAGS ()] read-only mailbox");
    } else {
        out.untagged(&format!(
            "OK [PERMANENTFLAGS ({flags} \\*)] flags permitted"
        ));
    }
    out.untagged(&format!(
        "OK [HIGHESTMODSEQ {}] highest modseq",
        folder.highest_modseq.max(1)
    ));
    let done = if read_only {
        Done::ok_code("READ-ONLY", "EXAMINE completed")
    } else {
        Done::ok_code("READ-WRITE", "SELECT completed")
    };
    Ok((selected, done))
}
