//! CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.4–6.3.8).
//!
//! What it keeps true: names reach the store decoded and checked (`names.rs`); INBOX cannot be
//! deleted; a special-use folder cannot be deleted or renamed away by a client, because
//! clients find Sent/Drafts/Junk/Trash/Archive by their attribute.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use congvu_store::Account;
use imap_codec::imap_types::mailbox::Mailbox;

pub async fn create(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
) -> CmdResult {
    let name = names::for_create(&names::from_wire(mailbox, out.utf8)?)?;
    if name == "INBOX" {
        return Err(Done::no(Some("ALREADYEXISTS"), "INBOX always exists"));
    }
    if ctx.store.folder_by_name(account.id, &name).await?.is_some() {
        return Err(Done::no(Some("ALREADYEXISTS"), "mailbox already exists"));
    }
    ctx.store.create_folder(account.id, &name, None).await?;
    Ok(Done::ok("CREATE completed"))
}

pub async fn delete(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
) -> CmdResult {
    let name = names::from_wire(mailbox, out.utf8)?;
    if name == "INBOX" {
        return Err(Done::no(Some("CANNOT"), "INBOX cannot be deleted"));
    }
    let Some(folder) = ctx.store.folder_by_name(account.id, &name).await? else {
        return Err(Done::no(Some("NONEXISTENT"), "no such mailbox"));
    };
    if folder.special_use.is_some() {
        return Err(Done::no(
            Some("CANNOT"),
            "special-use mailboxes cannot be deleted",
        ));
    }
    ctx.store.delete_folder(account.id, &name).await?;
    Ok(Done::ok("DELETE completed"))
}

pub async fn rename(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    from: &Mailbox<'_>,
    to: &Mailbox<'_>,
) -> CmdResult {
    let from = names::from_wire(from, out.utf8)?;
    let to = names::for_create(&names::from_wire(to, out.utf8)?)?;
    let Some(folder) = ctx.store.folder_by_name(account.id, &from).await? else {
        return Err(Done::no(Some("NONEXISTENT"), "no such mailbox"));
    };
    if folder.special_use.is_some() && from != "INBOX" {
        return Err(Done::no(
            Some("CANNOT"),
            "special-use mailboxes cannot be renamed",
        ));
    }
    if to == "INBOX" || ctx.store.folder_by_name(account.id, &to).await?.is_some() {
        return Err(Done::no(
            Some("ALREADYEXISTS"),
            "target mailbox already exists",
        ));
    }
    ctx.store.rename_folder(account.id, &from, &to).await?;
    Ok(Done::ok("RENAME completed"))
}

pub async fn subscribe(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
    on: bool,
) -> CmdResult {
    let name = names::from_wire(mailbox, out.utf8)?;
    if ctx.store.folder_by_name(account.id, &name).await?.is_none() {
        return Err(Done::no(Some("NONEXISTENT"), "no such mailbox"));
    }
    ctx.store.set_subscribed(account.id, &name, on).await?;
    Ok(Done::ok(if on {
        "SUBSCRIBE completed"
    } else {
        "UNSUBSCRIBE completed"
    }))
}
