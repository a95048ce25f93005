//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315 §3), APPENDLIMIT (RFC 7889)
//! and MULTIAPPEND (RFC 3502: several messages, all or none).
//!
//! What it keeps true: an appended message takes the same path as every other message
//! (DESIGN.md "Message path"): `pipeline.check` with `Source::Append`, then the blob is stored
//! and fsynced, then the index is committed; `OK` is sent only after both are durable.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use crate::selected::uid_set;
use congvu_core::flags::FlagOp;
use congvu_core::{Flags, Verdict};
use congvu_pipeline::{MessageContext, Source};
use congvu_store::{Account, Delivery, DeliveryTarget, FolderTarget, Uid};
use congvu_wire::mime::parse_message;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use std::net::SocketAddr;
use std::sync::Arc;

/// Converts client flags into stored flags; `\Recent` and unknown system flags are dropped.
pub fn flags_from_wire(flags: &[Flag<'_>]) -> Flags {
    let mut out = Flags::default();
    for f in flags {
        match f {
            Flag::Answered => out.add_name("\\Answered"),
            Flag::Deleted => out.add_name("\\Deleted"),
            Flag::Draft => out.add_name("\\Draft"),
            Flag::Flagged => out.add_name("\\Flagged"),
            Flag::Seen => out.add_name("\\Seen"),
            Flag::Keyword(atom) => out.add_name(atom.inner()),
            Flag::Extension(_) => {}
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub async fn append(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    peer: SocketAddr,
    mailbox: &Mailbox<'_>,
    flags: &[Flag<'_>],
    date: Option<&DateTime>,
    message: &LiteralOrLiteral8<'_>,
) -> CmdResult {
    let raw: &[u8] = match message {
        LiteralOrLiteral8::Literal(l) => l.data(),
        LiteralOrLiteral8::Literal8(l) => &l.data,
    };
    let name = names::from_wire(mailbox, out.utf8)?;
    let one = NewMessage {
        flags: flags_from_wire(flags),
        internal_date: date.map(|d| d.as_ref().timestamp()),
        raw,
    };
    let (uidvalidity, uids) = append_all(ctx, account, peer, &name, &[one]).await?;
    Ok(Done::ok_code(
        format!("APPENDUID {uidvalidity} {}", uid_set(&uids)),
        "APPEND completed",
    ))
}

/// One message of an APPEND or MULTIAPPEND.
pub struct NewMessage<'a> {
    pub flags: Flags,
    pub internal_date: Option<i64>,
    pub raw: &'a [u8],
}

/// Appends every message or none (RFC 3502 §6.3.11: MULTIAPPEND is atomic): when one fails,
/// those already stored are expunged again before the error is returned. Returns the folder's
/// UIDVALIDITY and the new UIDs in order.
pub async fn append_all(
    ctx: &ImapContext,
    account: &Account,
    peer: SocketAddr,
    name: &str,
    messages: &[NewMessage<'_>],
) -> Result<(u32, Vec<Uid>), Done> {
    let target = crate::shared::resolve(ctx, account, name).await?;
    let Some(folder) = ctx
        .store
        .folder_by_name(target.owner, &target.folder)
        .await?
    else {
        // RFC 9051 §6.3.12: TRYCREATE when the target does not exist.
        return Err(Done::no(Some("TRYCREATE"), "no such mailbox"));
    };
    target.rights.need('i', "insert messages")?;
    let total: u64 = messages.iter().map(|m| m.raw.len() as u64).sum();
    if target.unit.is_none() {
        crate::cmd::quota::check_room(ctx, account, total).await?;
    }
    let mut uids = Vec::with_capacity(messages.len());
    for m in messages {
        match append_one(ctx, account, peer, (target.owner, folder.id), m).await {
            Ok(uid) => uids.push(uid),
            Err(done) => {
                if !uids.is_empty() {
                    let deleted = Flags::from_names(["\\Deleted"]);
                    let undo = async {
                        ctx.store
                            .store_flags(folder.id, &uids, FlagOp::Add, &deleted, None)
                            .await?;
                        ctx.store.expunge(folder.id, Some(&uids)).await
                    };
                    if let Err(e) = undo.await {
                        tracing::warn!(error = %e, "could not undo a failed MULTIAPPEND");
                    }
                }
                return Err(done);
            }
        }
    }
    Ok((folder.uidvalidity, uids))
}

async fn append_one(
    ctx: &ImapContext,
    account: &Account,
    peer: SocketAddr,
    (owner, folder): (congvu_store::AccountId, congvu_store::FolderId),
    m: &NewMessage<'_>,
) -> Result<Uid, Done> {
    let raw = m.raw;
    if raw.len() as u64 > ctx.config.max_literal {
        return Err(Done::no(Some("TOOBIG"), "message larger than APPENDLIMIT"));
    }
    if raw.is_empty() {
        return Err(Done::no(Some("CANNOT"), "empty message"));
    }
    let index = parse_message(raw);
    let verdict = ctx
        .pipeline
        .check(&MessageContext {
            source: Source::Append,
            remote_ip: Some(peer.ip()),
            helo: None,
            mail_from: "",
            rcpt_to: &[],
            authenticated: Some(&account.address),
            raw,
            index: &index,
        })
        .await;
    let add_headers = match verdict {
        Verdict::Accept { add_headers } | Verdict::Junk { add_headers } => add_headers,
        Verdict::Reject(reply) => return Err(Done::no(Some("CANNOT"), reply.text)),
        Verdict::Quarantine { reason } => {
            return Err(Done::no(
                Some("CANNOT"),
                format!("message held for review: {reason}"),
            ));
        }
    };
    // The user chose the folder, so a Junk verdict does not move the message; its headers stay.
    let (blob_bytes, index) = if add_headers.is_empty() {
        (None, index)
    } else {
        let mut bytes: Vec<u8> = add_headers.concat().into_bytes();
        let shifted = index.shifted_by(bytes.len() as u64);
        bytes.extend_from_slice(raw);
        (Some(bytes), shifted)
    };
    let stored: &[u8] = blob_bytes.as_deref().unwrap_or(raw);
    let blob = ctx.blobs.put(stored).await?;
    let internal_date = match m.internal_date {
        Some(d) => d,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let delivered = ctx
        .store
        .deliver(Delivery {
            blob,
            index: Arc::new(index),
            internal_date,
            targets: vec![DeliveryTarget {
                account: owner,
                folder: FolderTarget::Id(folder),
                flags: m.flags.clone(),
            }],
        })
        .await?;
    let Some(d) = delivered.first() else {
        return Err(Done::no(Some("SERVERBUG"), "message was not stored"));
    };
    Ok(d.uid)
}
