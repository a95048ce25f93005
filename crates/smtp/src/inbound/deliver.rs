//! The end of a transaction: trace headers, the policy pipeline, then blob + index into the
//! store. Shared by DATA and BDAT LAST.
//!
//! Keeps true:
//! - Every message passes `Pipeline::check` with `Source::Mx` (DESIGN.md "Message path").
//! - The message is stored once as one blob and indexed for all its recipients by ONE
//!   `Store::deliver` call; `250` is returned only after that call returned `Ok`, i.e. the
//!   message is on stable storage (RFC 5321 §6.1: an accepted message must not be lost).
//! - A recipient account given through several addresses gets the message once.
//! - Store errors are temporary (`451 4.3.0`): the client keeps the message and retries.

use std::collections::HashSet;
use std::sync::Arc;

use congvu_core::{Flags, SpecialUse, Verdict};
use congvu_pipeline::{MessageContext, Source};
use congvu_store::{Delivery, DeliveryTarget, FolderTarget, StoreError};
use congvu_wire::mime::parse_message;

use super::session::{Session, Transaction};
use super::trace::{TraceInfo, new_transaction_id, now_rfc5322, write_trace_headers};
use crate::reply::Reply;

/// A message being received: trace headers first, then the client's bytes.
pub(crate) struct Incoming {
    pub(crate) id: String,
    pub(crate) raw: Vec<u8>,
    /// Length of the trace headers at the start of `raw`.
    pub(crate) header_len: usize,
}

impl Incoming {
    /// Octets the client sent (what SIZE limits).
    pub(crate) fn body_len(&self) -> u64 {
        (self.raw.len() - self.header_len) as u64
    }
}

/// RFC 3463 replies for store failures. Each is temporary: nothing was accepted.
pub(crate) fn store_error_reply(error: &StoreError) -> Reply {
    tracing::warn!(%error, "smtp: store error");
    match error {
        StoreError::Unavailable(_) => {
            Reply::new(451, "4.3.0", "Storage unavailable, try again later")
        }
        StoreError::NotFound(_) | StoreError::AlreadyExists(_) | StoreError::Invalid(_) => {
            Reply::new(451, "4.3.0", "Local error in processing, try again later")
        }
    }
}

impl Session<'_> {
    /// Starts the message of `tx`: a buffer holding the trace headers.
    pub(crate) fn start_message(&self, tx: &Transaction, capacity: usize) -> Incoming {
        let id = new_transaction_id();
        let date = now_rfc5322();
        let single_rcpt = match tx.rcpts.as_slice() {
            [only] => Some(only.address.as_str()),
            _ => None,
        };
        let (helo, extended) = match &self.helo {
            Some(h) => (h.host.as_str(), h.extended),
            None => ("unknown", false),
        };
        let mut raw = Vec::with_capacity(capacity + 512);
        write_trace_headers(
            &mut raw,
            &TraceInfo {
                mail_from: &tx.mail_from,
                helo,
                ip: self.peer.ip(),
                hostname: &self.ctx.config.hostname,
                extended,
                tls: self.tls,
                smtputf8: tx.smtputf8,
                id: &id,
                single_rcpt,
                date: &date,
            },
        );
        let header_len = raw.len();
        Incoming {
            id,
            raw,
            header_len,
        }
    }

    /// Checks and stores a complete message; the reply is the answer to DATA / BDAT LAST.
    pub(crate) async fn deliver(&self, tx: &Transaction, message: Incoming) -> Reply {
        let Incoming { id, raw, .. } = message;
        let index = parse_message(&raw);
        let rcpt_to: Vec<String> = tx.rcpts.iter().map(|r| r.address.clone()).collect();
        let verdict = self
            .ctx
            .pipeline
            .check(&MessageContext {
                source: Source::Mx,
                remote_ip: Some(self.peer.ip()),
                helo: self.helo.as_ref().map(|h| h.host.as_str()),
                mail_from: &tx.mail_from,
                rcpt_to: &rcpt_to,
                authenticated: None,
                raw: &raw,
                index: &index,
            })
            .await;
        let (folder, add_headers) = match verdict {
            Verdict::Accept { add_headers } => (SpecialUse::Inbox, add_headers),
            Verdict::Junk { add_headers } => (SpecialUse::Junk, add_headers),
            Verdict::Reject(reply) => return reply.into(),
            // Quarantine storage comes with the operator's console; until then a quarantined
            // message is refused so the sender learns it was not delivered.
            Verdict::Quarantine { reason } => {
                return Reply::new(554, "5.7.1", format!("Message refused: {reason}"));
            }
        };
        let (raw, index) = prepend_headers(raw, index, &add_headers);
        let blob = match self.ctx.blobs.put(&raw).await {
            Ok(blob) => blob,
            Err(e) => return store_error_reply(&e),
        };
        let mut seen = HashSet::new();
        let targets: Vec<DeliveryTarget> = tx
            .rcpts
            .iter()
            .filter(|r| seen.insert(r.account))
            .map(|r| DeliveryTarget {
                account: r.account,
                folder: FolderTarget::Special(folder),
                flags: Flags::default(),
            })
            .collect();
        let delivery = Delivery {
            blob,
            index: Arc::new(index),
            internal_date: chrono::Utc::now().timestamp(),
            targets,
        };
        match self.ctx.store.deliver(delivery).await {
            Ok(_) => {
                tracing::debug!(%id, peer = %self.peer, rcpts = tx.rcpts.len(), "smtp: message stored");
                Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
            }
            Err(e) => store_error_reply(&e),
        }
    }
}

/// Puts the pipeline's header lines on top of the message and shifts the index to match.
fn prepend_headers(
    raw: Vec<u8>,
    index: congvu_wire::mime::MessageIndex,
    headers: &[String],
) -> (Vec<u8>, congvu_wire::mime::MessageIndex) {
    if headers.is_empty() {
        return (raw, index);
    }
    let mut prefix = Vec::new();
    for header in headers {
        prefix.extend_from_slice(header.trim_end_matches(['\r', '\n']).as_bytes());
        prefix.extend_from_slice(b"\r\n");
    }
    let shifted = index.shifted_by(prefix.len() as u64);
    prefix.extend_from_slice(&raw);
    (prefix, shifted)
}
