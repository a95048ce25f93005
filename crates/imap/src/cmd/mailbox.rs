//! CREATE (with RFC 6154 CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE
//! (RFC 9051 §6.3.4–6.3.8).
//!
//! What it keeps true: names reach the store decoded and checked (`names.rs`); INBOX cannot be
//! deleted; a special-use folder cannot be deleted or renamed away by a client, because
//! clients find Sent/Drafts/Junk/Trash/Archive by their attribute.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::rawargs::Arg;
use crate::response::Out;
use congvu_core::SpecialUse;
use congvu_store::Account;
use imap_codec::imap_types::mailbox::Mailbox;

/// CREATE, DELETE and RENAME work on the user's own folders only; in the shared namespace they
/// are refused (the unit's folder tree is the operator's).
fn own_only(name: &str) -> Result<(), Done> {
    if name.starts_with(crate::shared::PREFIX) || name == "Shared" {
        return Err(Done::no(
            Some("NOPERM"),
            "folders of shared mailboxes are managed by the operator",
        ));
    }
    Ok(())
}

pub async fn create(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
) -> CmdResult {
    let name = names::for_create(&names::from_wire(mailbox, out.utf8)?)?;
    own_only(&name)?;
    if name == "INBOX" {
        return Err(Done::no(Some("ALREADYEXISTS"), "INBOX always exists"));
    }
    if ctx.store.folder_by_name(account.id, &name).await?.is_some() {
        return Err(Done::no(Some("ALREADYEXISTS"), "mailbox already exists"));
    }
    ctx.store.create_folder(account.id, &name, None).await?;
    Ok(Done::ok("CREATE completed"))
}

/// CREATE name (USE (\\Attr …)) (RFC 6154 §5.2, CREATE-SPECIAL-USE), from `rawargs.rs`.
/// Any number of `\\Archive` folders (one per year is common), but one Sent, Drafts, Junk and
/// Trash, because the server itself files messages there; a second one, and uses this server
/// does not keep (`\\All`, `\\Flagged`, `\\Important`), are refused with USEATTR.
pub async fn create_special_use(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    args: &[Arg],
) -> CmdResult {
    let [name, Arg::List(params)] = args else {
        return Err(Done::bad("CREATE takes a name and a parameter list"));
    };
    let raw = name.bytes().ok_or_else(|| Done::bad("bad mailbox name"))?;
    let name = names::for_create(&names::decode_bytes(raw, out.utf8)?)?;
    own_only(&name)?;
    let mut uses = Vec::new();
    match params.as_slice() {
        [u, Arg::List(attrs)] if u.is_atom("USE") => {
            for a in attrs {
                let Arg::Atom(attr) = a else {
                    return Err(Done::bad("bad USE attribute"));
                };
                match SpecialUse::from_attribute(attr) {
                    Some(u) if u != SpecialUse::Inbox => uses.push(u),
                    _ => {
                        return Err(Done::no(
                            Some("USEATTR"),
                            format!("special use {attr} is not supported"),
                        ));
                    }
                }
            }
        }
        _ => return Err(Done::bad("unknown CREATE parameter")),
    }
    if uses.len() > 1 {
        return Err(Done::no(Some("USEATTR"), "one special use per mailbox"));
    }
    if name == "INBOX" || ctx.store.folder_by_name(account.id, &name).await?.is_some() {
        return Err(Done::no(Some("ALREADYEXISTS"), "mailbox already exists"));
    }
    let special = uses.first().copied();
    if let Some(u) = special
        && u != SpecialUse::Archive
        && ctx
            .store
            .list_folders(account.id)
            .await?
            .iter()
            .any(|f| f.special_use == Some(u))
    {
        return Err(Done::no(
            Some("USEATTR"),
            "a mailbox with this special use exists already",
        ));
    }
    ctx.store.create_folder(account.id, &name, special).await?;
    Ok(Done::ok("CREATE completed"))
}

pub async fn delete(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
) -> CmdResult {
    let name = names::from_wire(mailbox, out.utf8)?;
    own_only(&name)?;
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
    own_only(&from)?;
    own_only(&to)?;
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
    if name.starts_with(crate::shared::PREFIX) {
        // Shared folders are always listed as subscribed; accepted, nothing to keep.
        crate::shared::folder(ctx, account, &name).await?;
        return Ok(Done::ok(
            "SUBSCRIBE completed (shared folders are always subscribed)",
        ));
    }
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
