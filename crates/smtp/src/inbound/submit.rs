//! The end of a submission transaction (RFC 6409): sender checks on the message itself,
//! the headers a submission server adds, the hourly count, the pipeline, then the local
//! copies into the store and the remote copies into the outbound queue.
//!
//! Keeps true:
//! - Every address of `From:` passes the same send-as rule as MAIL FROM (`sender`), or the
//!   message is refused with `550 5.7.1` naming it.
//! - When the envelope or `From:` is a mailbox the login keeps, the message carries
//!   `X-Congvu-Sent-By: <login>` and the fact is logged at info level (the audit table comes
//!   later). A client's own `X-Congvu-Sent-By` fields are removed, so the header can be
//!   trusted by whoever reads it.
//! - RFC 6409 §8.2, §8.3: a missing `Date:` or `Message-ID:` is added.
//! - The message counts against the login's hourly limit only if it is accepted: the slot
//!   is reserved before storing and given back on any refusal or failure.
//! - Remote recipients: the message (without `Return-Path`, which the final delivery adds,
//!   RFC 5321 §4.4) is put in the blob store and queued with `Store::enqueue`. Local
//!   recipients: the same bytes with `Return-Path` on top go through the same store path as
//!   MX mail. Remote copies are queued first, so a queue that refuses leaves nothing
//!   stored and the client's retry duplicates nothing; a local store failure after a
//!   successful enqueue answers `451` and the client's retry may send the remote copy twice
//!   (SMTP has no way to accept a message for only some recipients after DATA).
//! - `250` is written only after both calls returned `Ok` (both durable).
//! - Sending anomalies (R-POL-9, `[security]`): every submitted message is counted durably in
//!   its login's hour before it is sent (a message then refused still counts: this is a
//!   watch, not a quota). An hour above `factor ×` the login's average hour and above the
//!   floor records one `security.send_anomaly` event per hour (mailed to the user and the
//!   operators) and, with `hold_outbound_on_anomaly`, holds the login: its remote copies,
//!   this message's included, are queued but parked until `congvu queue release --address`.
//!   A store failure while counting is logged and does not stop the message.

use std::time::Instant;

use congvu_core::security::is_send_anomaly;
use congvu_pipeline::Source;
use congvu_store::{NewQueuedMessage, OutboundHold};
use congvu_wire::mime::parse_message;

use super::deliver::{Incoming, accepted_folder, prepend_headers, store_error_reply};
use super::mail::hourly_limit_reply;
use super::sender::{Origin, SendAs, from_header_addresses, header_fields};
use super::session::{Login, Session, Target, Transaction};
use super::trace::{now_rfc5322, write_return_path};
use crate::reply::Reply;

/// The header that names the keeper who sent as a unit mailbox.
pub const SENT_BY_HEADER: &str = "X-Congvu-Sent-By";

impl Session<'_> {
    pub(crate) async fn submit(&self, tx: &Transaction, message: Incoming) -> Reply {
        let Some(login) = self.login.as_ref() else {
            // MAIL requires a login in submission, so a transaction always has one.
            return Reply::new(530, "5.7.0", "Authentication required");
        };
        let Incoming {
            id,
            raw,
            header_len,
        } = message;
        let client = &raw[header_len..];
        let mut kept: Vec<String> = Vec::new();
        if tx.sent_as_kept {
            kept.push(tx.mail_from.to_lowercase());
        }
        let from = match from_header_addresses(client) {
            Ok(from) => from,
            Err(reply) => return reply,
        };
        for address in &from {
            match self.check_send_as(login, address, Origin::FromHeader).await {
                Ok(SendAs::Own) => {}
                Ok(SendAs::Kept) => {
                    let address = address.to_lowercase();
                    if !kept.contains(&address) {
                        kept.push(address);
                    }
                }
                Err(reply) => return reply,
            }
        }
        let message =
            self.add_submission_headers(&raw[..header_len], client, login, &id, !kept.is_empty());

        let limit = self.ctx.config.submission.max_messages_per_hour;
        let reserved_at = Instant::now();
        if self
            .ctx
            .limits
            .try_reserve(&login.address, reserved_at, limit)
            .is_err()
        {
            return hourly_limit_reply(&login.address, limit);
        }
        self.watch_sending(login).await;
        let reply = self.check_and_send(tx, login, message).await;
        if reply.is_error() {
            self.ctx.limits.release(&login.address, reserved_at);
            return reply;
        }
        if !kept.is_empty() {
            tracing::info!(login = %login.address, mailboxes = ?kept, %id, "submission: sent as a kept mailbox");
        }
        tracing::info!(
            login = %login.address,
            mail_from = %tx.mail_from,
            rcpts = tx.rcpts.len(),
            %id,
            "submission: message accepted"
        );
        Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
    }

    /// Counts this message in the login's hour and raises the anomaly (once per hour) when
    /// the hour is far above the login's history.
    async fn watch_sending(&self, login: &Login) {
        let security = &self.ctx.config.submission.security;
        if !security.send_anomaly_alerts {
            return;
        }
        let now = (self.ctx.config.now)();
        let hour = now.div_euclid(3600);
        let oldest = hour - i64::from(security.send_history_days) * 24;
        let store = self.ctx.store.as_ref();
        let counts = match store.count_sent_message(login.account, hour, oldest).await {
            Ok(counts) => counts,
            Err(error) => {
                tracing::warn!(%error, login = %login.address, "submission: could not count a sent message");
                return;
            }
        };
        if counts.flagged
            || !is_send_anomaly(
                counts.current,
                counts.history_sum,
                counts.history_hours,
                security.send_anomaly_factor,
                security.send_anomaly_floor,
            )
        {
            return;
        }
        if !matches!(store.flag_send_hour(login.account, hour).await, Ok(true)) {
            return; // another session raised it first (or the store failed)
        }
        let held = security.hold_outbound_on_anomaly;
        let detail = format!(
            "submission: {} messages this hour, threshold max({} x average {}/h over {} h, {}){}",
            counts.current,
            security.send_anomaly_factor,
            counts.history_sum.div_ceil(counts.history_hours.max(1)),
            counts.history_hours,
            security.send_anomaly_floor,
            if held {
                "; remote mail held until `congvu queue release --address`"
            } else {
                ""
            }
        );
        if held {
            let hold = OutboundHold {
                address: login.address.clone(),
                account: Some(login.account),
                since: now,
                reason: detail.clone(),
            };
            if let Err(error) = store.hold_outbound(hold).await {
                tracing::warn!(%error, login = %login.address, "submission: could not hold outbound mail");
            }
        }
        let account = store.account_by_id(login.account).await.ok().flatten();
        congvu_store::login::security_event(
            store,
            "security.send_anomaly",
            account.as_ref(),
            &login.address,
            &self.peer.ip().to_string(),
            detail,
            now,
        )
        .await;
    }

    /// Parks a just-queued message when its login is held (the queue worker checks again
    /// before sending, for a hold set meanwhile).
    async fn park_if_held(&self, login: &Login, id: congvu_store::QueueId) {
        let store = self.ctx.store.as_ref();
        match store.outbound_hold(&login.address).await {
            Ok(Some(_)) => {
                let now = (self.ctx.config.now)();
                match store.hold_queued(id, &login.address, now).await {
                    Ok(()) => {
                        tracing::info!(login = %login.address, queue_id = id, "submission: remote copy held for the operator")
                    }
                    Err(error) => {
                        tracing::warn!(%error, queue_id = id, "submission: could not hold a queued message")
                    }
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "submission: could not read outbound holds"),
        }
    }

    /// The message as it leaves: our trace header, `X-Congvu-Sent-By` when sent as a kept
    /// mailbox, `Date`/`Message-ID` when missing, then the client's message without any
    /// `X-Congvu-Sent-By` of its own.
    fn add_submission_headers(
        &self,
        trace: &[u8],
        client: &[u8],
        login: &Login,
        id: &str,
        sent_as_kept: bool,
    ) -> Vec<u8> {
        let fields = header_fields(client);
        let has = |name: &str| {
            fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        };
        let mut out = Vec::with_capacity(trace.len() + client.len() + 256);
        out.extend_from_slice(trace);
        if sent_as_kept {
            out.extend_from_slice(format!("{SENT_BY_HEADER}: {}\r\n", login.address).as_bytes());
        }
        if !has("date") {
            out.extend_from_slice(format!("Date: {}\r\n", now_rfc5322()).as_bytes());
        }
        if !has("message-id") {
            let host = &self.ctx.config.hostname;
            out.extend_from_slice(format!("Message-ID: <{id}@{host}>\r\n").as_bytes());
        }
        let mut copied = 0;
        for field in fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(SENT_BY_HEADER.as_bytes()))
        {
            out.extend_from_slice(&client[copied..field.range.start]);
            copied = field.range.end;
        }
        out.extend_from_slice(&client[copied..]);
        out
    }

    /// Pipeline, then remote copies into the queue, then local copies into the store.
    async fn check_and_send(&self, tx: &Transaction, login: &Login, raw: Vec<u8>) -> Reply {
        let index = parse_message(&raw);
        let verdict = self
            .run_pipeline(Source::Submission, tx, &raw, &index)
            .await;
        let (folder, add_headers) = match accepted_folder(verdict) {
            Ok(accepted) => accepted,
            Err(reply) => return reply,
        };
        let (raw, index) = prepend_headers(raw, index, &add_headers);

        let remote: Vec<String> = tx
            .rcpts
            .iter()
            .filter(|r| r.target == Target::Remote)
            .map(|r| r.address.clone())
            .collect();
        if !remote.is_empty() {
            let blob = match self.ctx.blobs.put(&raw).await {
                Ok(blob) => blob,
                Err(e) => return store_error_reply(&e),
            };
            let queued = self
                .ctx
                .store
                .enqueue(NewQueuedMessage {
                    blob,
                    mail_from: tx.mail_from.clone(),
                    recipients: remote,
                    created_at: chrono::Utc::now().timestamp(),
                    submitted_by: Some(login.address.clone()),
                })
                .await;
            let id = match queued {
                Ok(id) => id,
                Err(e) => return store_error_reply(&e),
            };
            self.park_if_held(login, id).await;
        }

        if tx
            .rcpts
            .iter()
            .any(|r| matches!(r.target, Target::Local(_)))
        {
            let mut local = Vec::with_capacity(raw.len() + 128);
            write_return_path(&mut local, &tx.mail_from);
            let index = index.shifted_by(local.len() as u64);
            local.extend_from_slice(&raw);
            if let Err(reply) = self.store_locally(tx, &local, index, folder).await {
                return reply;
            }
        }
        Reply::new(250, "2.0.0", "Ok")
    }
}
