//! QUOTA (RFC 9208) with the STORAGE resource: one quota root, `""`, per account, covering
//! every folder, with the limit `ImapConfig::quota_bytes` (0 = no quota, and then no root).
//!
//! What it keeps true: usage is what the store reports as folder sizes (RFC822.SIZE sums),
//! in units of 1024 octets rounded up (RFC 9208 §5.1); APPEND and COPY that would go over the
//! limit fail with `NO [OVERQUOTA]` before anything is stored (RFC 9208 §4.3); SETQUOTA is
//! refused, the limit being the operator's configuration. Unit mailboxes seen by a keeper
//! under `Shared/` have no quota root for the keeper and do not count against theirs.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use congvu_store::Account;
use imap_codec::imap_types::mailbox::Mailbox;

/// Octets stored by the account, over every folder.
pub async fn usage(ctx: &ImapContext, account: &Account) -> Result<u64, Done> {
    let mut total: u64 = 0;
    for f in ctx.store.list_folders(account.id).await? {
        total = total.saturating_add(ctx.store.folder_status(f.id).await?.size);
    }
    Ok(total)
}

/// `NO [OVERQUOTA]` when adding `more` octets would pass the limit.
pub async fn check_room(ctx: &ImapContext, account: &Account, more: u64) -> Result<(), Done> {
    let limit = ctx.config.quota_bytes;
    if limit == 0 {
        return Ok(());
    }
    if usage(ctx, account).await?.saturating_add(more) > limit {
        return Err(Done::no(Some("OVERQUOTA"), "mailbox quota exceeded"));
    }
    Ok(())
}

fn kib(octets: u64) -> u64 {
    octets.div_ceil(1024)
}

async fn write_quota(ctx: &ImapContext, out: &mut Out, account: &Account) -> Result<(), Done> {
    let used = usage(ctx, account).await?;
    out.untagged(&format!(
        "QUOTA \"\" (STORAGE {} {})",
        kib(used),
        kib(ctx.config.quota_bytes)
    ));
    Ok(())
}

pub async fn get_quota_root(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
) -> CmdResult {
    let name = names::from_wire(mailbox, out.utf8)?;
    let (target, _) = crate::shared::folder(ctx, account, &name).await?;
    out.text("* QUOTAROOT ");
    out.string(names::to_wire(&name, out.utf8).as_bytes());
    // A unit mailbox's storage is not the keeper's: no root of theirs covers it.
    if ctx.config.quota_bytes == 0 || target.unit.is_some() {
        out.text("\r\n");
        return Ok(Done::ok("GETQUOTAROOT completed, no quota"));
    }
    out.text(" \"\"\r\n");
    write_quota(ctx, out, account).await?;
    Ok(Done::ok("GETQUOTAROOT completed"))
}

pub async fn get_quota(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    root: &[u8],
) -> CmdResult {
    if !root.is_empty() || ctx.config.quota_bytes == 0 {
        return Err(Done::no(Some("NONEXISTENT"), "no such quota root"));
    }
    write_quota(ctx, out, account).await?;
    Ok(Done::ok("GETQUOTA completed"))
}
