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
//! - A message the pipeline quarantines on MX is accepted and held (`quarantine.rs`), in no
//!   mailbox, until the operator releases or deletes it.

use std::collections::HashSet;
use std::sync::Arc;

use congvu_core::{SpecialUse, Verdict};
use congvu_pipeline::{MessageContext, Source};
use congvu_store::{Delivery, DeliveryTarget, NewQueuedMessage, StoreError};
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
        if let Verdict::Quarantine { reason } = &verdict {
            return self.hold(tx, &id, &raw, &index, reason).await;
        }
        let (folder, add_headers) = match accepted_folder(verdict) {
            Ok(accepted) => accepted,
            Err(reply) => return reply,
        };
        // RFC 8601 §5: fields from outside that imitate ours go before ours are added; the
        // index is made again only for such a message.
        let (raw, index) = match self.ctx.pipeline.remove_forged_fields(Source::Mx, &raw) {
            Some(cleaned) => {
                let index = parse_message(&cleaned);
                (cleaned, index)
            }
            None => (raw, index),
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

    /// Stores `raw` once and indexes it for every local recipient of `tx` (each account
    /// once), durably: into `folder`, or where the recipient's Sieve script files it
    /// (`sieve.rs`). Redirects and vacation replies the scripts asked for are queued after.
    /// Nothing to do without local recipients.
    pub(crate) async fn store_locally(
        &self,
        tx: &Transaction,
        raw: &[u8],
        index: MessageIndex,
        folder: SpecialUse,
    ) -> Result<(), Reply> {
        let mut seen = HashSet::new();
        let recipients: Vec<(congvu_store::AccountId, String)> = tx
            .rcpts
            .iter()
            .filter_map(|r| match r.target {
                Target::Local(account) => Some((account, r.address.clone())),
                Target::Remote => None,
            })
            .filter(|(account, _)| seen.insert(*account))
            .collect();
        if recipients.is_empty() {
            return Ok(());
        }
        let message_id = index.message_id.clone();
        let outcome = self
            .run_sieve(raw, &tx.mail_from, &recipients, folder)
            .await;
        let has_remote = tx.rcpts.iter().any(|r| matches!(r.target, Target::Remote));
        if let Some(reason) = &outcome.rejected
            && self.mode == Mode::Mx
            && !has_remote
        {
            // RFC 5429 §2.1: refusing in the SMTP dialogue is the preferred form of reject.
            return Err(Reply::new(
                550,
                "5.7.1",
                format!(
                    "Message refused by the recipient's filter: {}",
                    one_line(reason)
                ),
            ));
        }
        let mut unique = HashSet::new();
        let targets: Vec<DeliveryTarget> = outcome
            .targets
            .into_iter()
            .filter(|(account, folder, _)| unique.insert((*account, format!("{folder:?}"))))
            .map(|(account, folder, flags)| DeliveryTarget {
                account,
                folder,
                flags,
            })
            .collect();
        if !targets.is_empty() {
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
                targets: targets.clone(),
            };
            self.ctx
                .store
                .deliver(delivery)
                .await
                .map_err(|e| store_error_reply(&e))?;
        }
        // Redirected copies leave without our Return-Path (RFC 5321 §4.4: added at final
        // delivery only), from the redirecting mailbox so bounces come back to it.
        if !outcome.redirects.is_empty() {
            let onward = strip_return_path(raw);
            let blob = self.ctx.blobs.put(onward).await;
            for (by, to) in &outcome.redirects {
                let queued = match &blob {
                    Ok(blob) => {
                        self.ctx
                            .store
                            .enqueue(NewQueuedMessage {
                                blob: blob.clone(),
                                mail_from: by.clone(),
                                recipients: vec![to.clone()],
                                created_at: chrono::Utc::now().timestamp(),
                                submitted_by: None,
                            })
                            .await
                    }
                    Err(e) => Err(StoreError::Unavailable(e.to_string())),
                };
                if let Err(e) = queued {
                    if targets.is_empty() {
                        // Nothing was stored: the client must retry rather than lose it.
                        return Err(store_error_reply(&e));
                    }
                    tracing::error!(error = %e, by, to, "sieve: redirect could not be queued");
                }
            }
        }
        for (by, reply) in &outcome.vacations {
            self.send_vacation(by, reply, message_id.as_deref()).await;
        }
        Ok(())
    }

    /// Queues (or, to a hosted mailbox, stores) one vacation reply; failures are logged, as
    /// an automatic reply is never worth refusing the original message for.
    async fn send_vacation(
        &self,
        by: &str,
        reply: &congvu_pipeline::sieve::VacationReply,
        in_reply_to: Option<&str>,
    ) {
        let id = format!("{}@{}", new_transaction_id(), self.ctx.config.hostname);
        let raw = super::sieve::vacation_message(by, reply, in_reply_to, &now_rfc5322(), &id);
        let local = self.local_account(&reply.to).await;
        let result = match self.ctx.blobs.put(&raw).await {
            // A colleague in the province: straight into their INBOX.
            Ok(blob) if local.is_some() => {
                let index = parse_message(&raw);
                self.ctx
                    .store
                    .deliver(Delivery {
                        blob,
                        index: Arc::new(index),
                        internal_date: chrono::Utc::now().timestamp(),
                        targets: local
                            .into_iter()
                            .map(|account| DeliveryTarget {
                                account,
                                folder: congvu_store::FolderTarget::Special(SpecialUse::Inbox),
                                flags: Default::default(),
                            })
                            .collect(),
                    })
                    .await
                    .map(|_| ())
            }
            Ok(blob) => {
                self.ctx
                    .store
                    .enqueue(NewQueuedMessage {
                        blob,
                        // RFC 3834 §3.3: automatic responses go from the null reverse-path.
                        mail_from: String::new(),
                        recipients: vec![reply.to.clone()],
                        created_at: chrono::Utc::now().timestamp(),
                        submitted_by: None,
                    })
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        };
        if let Err(error) = result {
            tracing::warn!(%error, by, to = reply.to, "sieve: vacation reply not queued");
        }
    }
}

/// The message without a leading `Return-Path:` line.
fn strip_return_path(raw: &[u8]) -> &[u8] {
    if raw.len() >= 12
        && raw[..12].eq_ignore_ascii_case(b"Return-Path:")
        && let Some(end) = raw.windows(2).position(|w| w == b"\r\n")
    {
        return &raw[end + 2..];
    }
    raw
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The folder an accepted verdict files into, and the headers to add; or the refusal.
pub(crate) fn accepted_folder(verdict: Verdict) -> Result<(SpecialUse, Vec<String>), Reply> {
    match verdict {
        Verdict::Accept { add_headers } => Ok((SpecialUse::Inbox, add_headers)),
        Verdict::Junk { add_headers } => Ok((SpecialUse::Junk, add_headers)),
        Verdict::Reject(reply) => Err(reply.into()),
        // MX holds a quarantined message before it gets here (`quarantine.rs`); submission
        // refuses it, so the user learns at once that it was not sent.
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
    // RFC 5321 §4.4: Return-Path stays the first line of a delivered message; the pipeline's
    // fields (Authentication-Results, RFC 8601 §5) go right under it. Only the top-level
    // header's start (0) precedes the insertion, so the shifted index stays right.
    let at = return_path_line_len(&raw);
    let mut out = Vec::with_capacity(raw.len() + prefix.len());
    out.extend_from_slice(&raw[..at]);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&raw[at..]);
    (out, shifted)
}

/// Length of a leading one-line `Return-Path:` field with its CRLF, or 0.
fn return_path_line_len(raw: &[u8]) -> usize {
    const NAME: &[u8] = b"return-path:";
    if raw.len() < NAME.len() || !raw[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return 0;
    }
    match raw.windows(2).position(|w| w == b"\r\n") {
        // A folded Return-Path (never ours) is left whole: insert above it.
        Some(end) if !matches!(raw.get(end + 2), Some(b' ' | b'\t')) => end + 2,
        _ => 0,
    }
}
