//! Purging revoked mailboxes once `[policy] revoked_retention` has run out (R-ACC-5): what
//! `congvu mailbox purge` and the server's hourly sweep do.
//!
//! Keeps true:
//! - Only the lifecycle table decides (`core::lifecycle::next_state` with `Purge`): a mailbox
//!   that is not revoked, or whose retention has not run out, is left alone with the reason.
//! - The purge itself is one store transaction (`Store::purge_account`); the message files
//!   nobody else holds go afterwards through `Store::collect_garbage`, which is safe against
//!   deliveries of the same bytes at the same moment.
//! - Every purge is in the audit log as `mailbox.purge`, with what was removed.

use crate::ops::{Ops, OpsError, Result, Who, to_lifecycle};
use congvu_core::lifecycle::{LifecycleAction, next_state};
use congvu_store::{AccountState, BlobStore, Garbage, PurgedAccount};

/// One purged mailbox and what went with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    pub address: String,
    pub removed: PurgedAccount,
}

/// Purges one revoked mailbox whose retention is over, then collects the message files it
/// alone held. Refused with the lifecycle's reason otherwise (retention not over: the date).
pub async fn purge_mailbox(
    ops: &Ops,
    blobs: &dyn BlobStore,
    address: &str,
    reason: &str,
    who: &Who,
) -> Result<(Purge, Garbage)> {
    let purge = purge_one(ops, address, reason, who).await?;
    let garbage = ops.store.collect_garbage(blobs, ops.now()).await?;
    Ok((purge, garbage))
}

/// Purges every revoked mailbox whose retention is over, then collects every message file no
/// mailbox holds any more: the server's sweep. A mailbox that fails is logged and skipped so
/// one bad row does not stop the others.
pub async fn purge_expired(ops: &Ops, blobs: &dyn BlobStore, who: &Who) -> Result<Vec<Purge>> {
    let now = ops.now();
    let mut done = Vec::new();
    for account in ops.store.list_accounts().await? {
        if account.state != AccountState::Revoked {
            continue;
        }
        let details = ops.details(&account).await?;
        let revoked_at = details.state_changed_at.unwrap_or(account.created_at);
        if revoked_at.saturating_add(ops.settings.revoked_retention) > now {
            continue;
        }
        let reason = "revoked_retention has run out";
        match purge_one(ops, &account.address, reason, who).await {
            Ok(purge) => done.push(purge),
            Err(error) => {
                tracing::warn!(%error, address = account.address, "purge of a revoked mailbox failed");
            }
        }
    }
    // Also the bodies whose last copy was expunged since the last sweep.
    let garbage = ops.store.collect_garbage(blobs, now).await?;
    if !done.is_empty() || garbage.messages > 0 {
        tracing::info!(
            mailboxes = done.len(),
            messages = garbage.messages,
            bytes = garbage.bytes,
            "retention sweep: revoked mailboxes purged, unreferenced message files deleted"
        );
    }
    Ok(done)
}

async fn purge_one(ops: &Ops, address: &str, reason: &str, who: &Who) -> Result<Purge> {
    let account = ops.account(address).await?;
    let details = ops.details(&account).await?;
    let now = ops.now();
    next_state(
        to_lifecycle(account.state),
        LifecycleAction::Purge,
        details.state_changed_at.unwrap_or(account.created_at),
        ops.settings.revoked_retention,
        now,
    )
    .map_err(|e| OpsError::Conflict(e.to_string()))?;
    let removed = ops.store.purge_account(account.id, now, reason).await?;
    ops.audit(
        who,
        "mailbox.purge",
        &account.address,
        &format!(
            "{reason}; {} folders and {} messages removed",
            removed.folders, removed.messages
        ),
    )
    .await?;
    Ok(Purge {
        address: account.address,
        removed,
    })
}

/// The server's sweep: [`purge_expired`] at start and then every `interval`, until `shutdown`.
pub async fn run_sweep(
    ops: Ops,
    blobs: std::sync::Arc<dyn BlobStore>,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let who = Who {
        actor: "congvu (retention sweep)".into(),
        role: "system".into(),
        ..Who::default()
    };
    loop {
        if let Err(error) = purge_expired(&ops, blobs.as_ref(), &who).await {
            tracing::warn!(%error, "the purge of revoked mailboxes failed; retrying later");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
