//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315 §3) and APPENDLIMIT (RFC 7889).
//!
//! What it keeps true: an appended message takes the same path as every other message
//! (DESIGN.md "Message path"): `pipeline.check` with `Source::Append`, then the blob is stored
//! and fsynced, then the index is committed; `OK` is sent only after both are durable.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use congvu_core::{Flags, Verdict};
use congvu_pipeline::{MessageContext, Source};
use congvu_store::{Account, Delivery, DeliveryTarget, FolderTarget};
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
    if raw.len() as u64 > ctx.config.max_literal {
        return Err(Done::no(Some("TOOBIG"), "message larger than APPENDLIMIT"));
    }
    if raw.is_empty() {
        return Err(Done::no(Some("CANNOT"), "empty message"));
    }
    let name = names::from_wire(mailbox, out.utf8)?;
    let Some(folder) = ctx.store.folder_by_name(account.id, &name).await? else {
        // RFC 9051 §6.3.12: TRYCREATE when the target does not exist.
        return Err(Done::no(Some("TRYCREATE"), "no such mailbox"));
    };
    crate::cmd::quota::check_room(ctx, account, raw.len() as u64).await?;
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
    let internal_date = match date {
        Some(d) => d.as_ref().timestamp(),
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
                account: account.id,
                folder: FolderTarget::Id(folder.id),
                flags: flags_from_wire(flags),
            }],
        })
        .await?;
    let Some(d) = delivered.first() else {
        return Err(Done::no(Some("SERVERBUG"), "message was not stored"));
    };
    Ok(Done::ok_code(
        format!("APPENDUID {} {}", folder.uidvalidity, d.uid),
        "APPEND completed",
    ))
}
