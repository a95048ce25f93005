//! The end of a transaction: trace headers, the policy pipeline, then blob + index into the
//! store. Shared by DATA and BDAT LAST, and by MX and submission (`submit` adds the
//! submission steps around the same pipeline and store calls).
//!
//! Keeps true:
//! - Every message passes `Pipeline::check` (`Source::Mx` here, `Source::Submission` in
//!   `submit`) before anything is stored (DESIGN.md "Message path").
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
use congvu_wire::mime::{MessageIndex, parse_message};

use super::session::{Mode, Session, Target, Transaction};
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
                authenticated: self.login.is_some(),
                return_path: self.mode == Mode::Mx,
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

    /// Checks and stores (or, on submission, also queues) a complete message; the reply is
    /// the answer to DATA / BDAT LAST.
    pub(crate) async fn deliver(&self, tx: &Transaction, message: Incoming) -> Reply {
        match self.mode {
            Mode::Mx => self.deliver_mx(tx, message).await,
            Mode::Submission => self.submit(tx, message).await,
        }
    }

    async fn deliver_mx(&self, tx: &Transaction, message: Incoming) -> Reply {
        let Incoming { id, raw, .. } = message;
        let index = parse_message(&raw);
        let verdict = self.run_pipeline(Source::Mx, tx, &raw, &index).await;
        let (folder, add_headers) = match accepted_folder(verdict) {
            Ok(accepted) => accepted,
            Err(reply) => return reply,
        };
        let (raw, index) = prepend_headers(raw, index, &add_headers);
        match self.store_locally(tx, &raw, index, folder).await {
            Ok(()) => {
                tracing::debug!(%id, peer = %self.peer, rcpts = tx.rcpts.len(), "smtp: message stored");
                Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
            }
            Err(reply) => reply,
        }
    }

    /// Asks the pipeline about a message of `tx`.
    pub(crate) async fn run_pipeline(
        &self,
        source: Source,
        tx: &Transaction,
        raw: &[u8],
        index: &MessageIndex,
    ) -> Verdict {
        let rcpt_to: Vec<String> = tx.rcpts.iter().map(|r| r.address.clone()).collect();
        self.ctx
            .pipeline
            .check(&MessageContext {
                source,
                remote_ip: Some(self.peer.ip()),
                helo: self.helo.as_ref().map(|h| h.host.as_str()),
                mail_from: &tx.mail_from,
                rcpt_to: &rcpt_to,
                authenticated: self.login.as_ref().map(|l| l.address.as_str()),
                raw,
                index,
            })
            .await
    }

    /// Stores `raw` once and indexes it into `folder` of every local recipient of `tx`
    /// (each account once), durably. Nothing to do without local recipients.
    pub(crate) async fn store_locally(
        &self,
        tx: &Transaction,
        raw: &[u8],
        index: MessageIndex,
        folder: SpecialUse,
    ) -> Result<(), Reply> {
        let mut seen = HashSet::new();
        let targets: Vec<DeliveryTarget> = tx
            .rcpts
            .iter()
            .filter_map(|r| match r.target {
                Target::Local(account) => Some(account),
                Target::Remote => None,
            })
            .filter(|account| seen.insert(*account))
            .map(|account| DeliveryTarget {
                account,
                folder: FolderTarget::Special(folder),
                flags: Flags::default(),
            })
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let blob = self
            .ctx
            .blobs
            .put(raw)
            .await
            .map_err(|e| store_error_reply(&e))?;
        let delivery = Delivery {
            blob,
            index: Arc::new(index),
            internal_date: chrono::Utc::now().timestamp(),
            targets,
        };
        self.ctx
            .store
            .deliver(delivery)
            .await
            .map(|_| ())
            .map_err(|e| store_error_reply(&e))
    }
}

/// The folder an accepted verdict files into, and the headers to add; or the refusal.
pub(crate) fn accepted_folder(verdict: Verdict) -> Result<(SpecialUse, Vec<String>), Reply> {
    match verdict {
        Verdict::Accept { add_headers } => Ok((SpecialUse::Inbox, add_headers)),
        Verdict::Junk { add_headers } => Ok((SpecialUse::Junk, add_headers)),
        Verdict::Reject(reply) => Err(reply.into()),
        // Quarantine storage comes with the operator's console; until then a quarantined
        // message is refused so the sender learns it was not delivered.
        Verdict::Quarantine { reason } => Err(Reply::new(
            554,
            "5.7.1",
            format!("Message refused: {reason}"),
        )),
    }
}

/// Puts the pipeline's header lines on top of the message and shifts the index to match.
pub(crate) fn prepend_headers(
    raw: Vec<u8>,
    index: MessageIndex,
    headers: &[String],
) -> (Vec<u8>, MessageIndex) {
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
