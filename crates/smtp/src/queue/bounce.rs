//! Sending a delivery status notification to the original sender: into the sender's INBOX
//! when the sender is one of our accounts, otherwise through the queue like any mail.
//!
//! Keeps true:
//! - Never a notice about a notice: a message with the null sender gets none
//!   (RFC 5321 §4.5.5: notifications about notifications must not be sent).
//! - A notice is queued with the null reverse-path, so a notice that fails in turn is
//!   dropped, not bounced.
//! - Local delivery goes through the same pipeline, blob store and `Store::deliver` as any
//!   incoming message (DESIGN.md "Message path").

use std::sync::Arc;

use congvu_core::{Flags, SpecialUse, Verdict};
use congvu_pipeline::{MessageContext, Source};
use congvu_store::{Delivery, DeliveryTarget, FolderTarget, NewQueuedMessage, StoreError};
use congvu_wire::mime::parse_message;

use super::dsn::{DsnInput, build_dsn};
use crate::outbound::OutboundContext;

/// Builds and sends the notice. Errors are logged by the caller; the queue entry is
/// finished either way (a lost notice must not block the queue).
pub async fn send_notice(ctx: &OutboundContext, input: &DsnInput<'_>) -> Result<(), StoreError> {
    if input.to.is_empty() {
        return Ok(());
    }
    let raw = build_dsn(input);
    let now = input.last_attempt;
    match ctx
        .store
        .account_by_address(&input.to.to_lowercase())
        .await?
    {
        Some(account) => deliver_locally(ctx, account.id, input.to, raw, now).await,
        None => {
            let blob = ctx.blobs.put(&raw).await?;
            ctx.store
                .enqueue(NewQueuedMessage {
                    blob,
                    mail_from: String::new(),
                    recipients: vec![input.to.to_string()],
                    created_at: now,
                    submitted_by: None,
                })
                .await
                .map(|_| ())
        }
    }
}

/// Puts a locally generated message into one account's INBOX (or Junk, if the pipeline says
/// so). A pipeline rejection drops the notice with a log line.
pub async fn deliver_locally(
    ctx: &OutboundContext,
    account: congvu_store::AccountId,
    address: &str,
    raw: Vec<u8>,
    now: i64,
) -> Result<(), StoreError> {
    let index = parse_message(&raw);
    let rcpt = [address.to_string()];
    let verdict = ctx
        .pipeline
        .check(&MessageContext {
            source: Source::Mx,
            remote_ip: None,
            helo: Some(&ctx.config.hostname),
            mail_from: "",
            rcpt_to: &rcpt,
            authenticated: None,
            raw: &raw,
            index: &index,
        })
        .await;
    let (folder, add_headers) = match verdict {
        Verdict::Accept { add_headers } => (SpecialUse::Inbox, add_headers),
        Verdict::Junk { add_headers } => (SpecialUse::Junk, add_headers),
        Verdict::Reject(_) | Verdict::Quarantine { .. } => {
            tracing::warn!(address, "outbound: the pipeline refused a delivery notice");
            return Ok(());
        }
    };
    let mut prefix = Vec::new();
    for header in &add_headers {
        prefix.extend_from_slice(header.trim_end_matches(['\r', '\n']).as_bytes());
        prefix.extend_from_slice(b"\r\n");
    }
    let index = index.shifted_by(prefix.len() as u64);
    prefix.extend_from_slice(&raw);
    let blob = ctx.blobs.put(&prefix).await?;
    ctx.store
        .deliver(Delivery {
            blob,
            index: Arc::new(index),
            internal_date: now,
            targets: vec![DeliveryTarget {
                account,
                folder: FolderTarget::Special(folder),
                flags: Flags::default(),
            }],
        })
        .await
        .map(|_| ())
}
