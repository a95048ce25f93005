//! What every message passes through before it is stored or queued (DESIGN.md "Message path").
//!
//! Every entry point (SMTP MX, submission, IMAP APPEND, webmail) builds a [`MessageContext`]
//! and asks [`Pipeline::check`] for a [`Verdict`]; a rule written once applies to all.
//! The policy is a list read top to bottom: the first check that rejects or quarantines wins;
//! headers that accepting checks add are collected in order. The time each check takes is
//! logged (`check done`, debug level, with `elapsed_us`) so a slow stage can be found.
//!
//! Keeps true:
//! - A message is decoded (MIME parsed, transfer encodings undone) at most once per check run:
//!   every check reads the same [`MessageView::decoded`], filled by the first check that asks.
//! - Checks only add header fields; the one exception, fields from outside that imitate ours
//!   (RFC 8601 §5), is [`Pipeline::remove_forged_fields`], which delivery calls after the
//!   verdict so signatures are verified over the message as it came.

use async_trait::async_trait;
use congvu_core::{Reply, Verdict};
use congvu_wire::mime::MessageIndex;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub mod checks;
pub mod fields;
pub mod parts;
pub mod policy;
pub mod sieve;

pub use policy::Policy;

use parts::Decoded;

/// Where a message entered the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// SMTP on port 25 from another mail system.
    Mx,
    /// Authenticated submission (587/465).
    Submission,
    /// IMAP APPEND by the mailbox owner.
    Append,
    /// Sent from webmail.
    Webmail,
}

/// Everything a check may look at. The raw bytes include the trace headers already added.
#[derive(Debug)]
pub struct MessageContext<'a> {
    pub source: Source,
    pub remote_ip: Option<IpAddr>,
    pub helo: Option<&'a str>,
    /// Envelope sender; empty for a null reverse-path (bounces).
    pub mail_from: &'a str,
    pub rcpt_to: &'a [String],
    /// The authenticated login, if any.
    pub authenticated: Option<&'a str>,
    pub raw: &'a [u8],
    pub index: &'a MessageIndex,
}

/// A message on its way through the checks: the caller's [`MessageContext`] and what is
/// decoded from it, decoded on first use and shared by every check after, so a message is
/// parsed and its base64 undone once, not once per check (issue 6). Reads as the context
/// (`Deref`), so a check writes `message.raw`, `message.source`.
pub struct MessageView<'a> {
    ctx: &'a MessageContext<'a>,
    // Names unlike the context's fields, which `Deref` must not hide.
    raw_copy: OnceLock<Arc<[u8]>>,
    decoded_once: tokio::sync::OnceCell<Arc<Decoded>>,
}

impl<'a> MessageView<'a> {
    pub fn new(ctx: &'a MessageContext<'a>) -> Self {
        MessageView {
            ctx,
            raw_copy: OnceLock::new(),
            decoded_once: tokio::sync::OnceCell::new(),
        }
    }

    /// The raw bytes as a shared copy, for work handed to a blocking thread (which needs
    /// `'static` data); copied once per message however many checks ask.
    pub fn shared_raw(&self) -> Arc<[u8]> {
        self.raw_copy
            .get_or_init(|| Arc::from(self.ctx.raw))
            .clone()
    }

    /// The subjects, texts and attachments ([`parts::decode_message`]), decoded on a blocking
    /// thread the first time a check asks. Errors only when the decoder panicked.
    pub async fn decoded(&self) -> Result<Arc<Decoded>, tokio::task::JoinError> {
        self.decoded_once
            .get_or_try_init(|| {
                let raw = self.shared_raw();
                async move {
                    tokio::task::spawn_blocking(move || Arc::new(parts::decode_message(&raw))).await
                }
            })
            .await
            .cloned()
    }
}

impl<'a> std::ops::Deref for MessageView<'a> {
    type Target = MessageContext<'a>;

    fn deref(&self) -> &MessageContext<'a> {
        self.ctx
    }
}

/// One check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to say.
    Pass,
    /// Accept, adding these header lines (each ending in CRLF) on top of the message.
    AddHeaders(Vec<String>),
    Reject(Reply),
    Quarantine(String),
    /// File into Junk, with these headers.
    Junk(Vec<String>),
}

#[async_trait]
pub trait Check: Send + Sync {
    /// A short name for logs and per-stage metrics ("hop-count", "antivirus").
    fn name(&self) -> &'static str;
    async fn on_data(&self, message: &MessageView<'_>) -> Outcome;
    /// [`Check::on_data`], also given the header lines the earlier checks are adding (this
    /// server's `Authentication-Results`, which the spam score reads). Most checks ignore them.
    async fn on_data_after(&self, message: &MessageView<'_>, _added: &[String]) -> Outcome {
        self.on_data(message).await
    }
    /// True when `field`, a top-level header field of a message from `source`, imitates one
    /// this check writes and must not reach the reader: RFC 8601 §5, an `Authentication-Results`
    /// from outside carrying our authserv-id. Most checks write nothing anyone could forge.
    fn is_forged_field(&self, _source: Source, _field: &fields::Field<'_>) -> bool {
        false
    }
}

/// The ordered list of checks.
pub struct Pipeline {
    checks: Vec<Box<dyn Check>>,
}

impl Pipeline {
    pub fn new(checks: Vec<Box<dyn Check>>) -> Self {
        Pipeline { checks }
    }

    /// The checks that apply with no configuration: the ones every mail system needs.
    pub fn standard() -> Self {
        Pipeline::new(vec![
            Box::new(checks::HopCount::default()),
            Box::new(checks::HeaderSanity),
        ])
    }

    /// The standard checks, then the province's policy stages (R-POL-3, R-POL-7, R-POL-4) as
    /// configured: cheap refusals first, the antivirus scan (a network round trip) last.
    pub fn from_policy(policy: &Policy) -> Self {
        let mut list: Vec<Box<dyn Check>> = vec![
            Box::new(checks::HopCount::default()),
            Box::new(checks::HeaderSanity),
            Box::new(checks::attachments::Attachments::new(
                policy.attachments.clone(),
            )),
            Box::new(checks::marks::Marks::new(policy.marks.clone())),
            // Who sent it (SPF, DKIM, DMARC, ARC; MX only): DNS lookups, cached.
            Box::new(checks::sender_auth::SenderAuth::new(
                policy.sender_auth.clone(),
            )),
        ];
        if !policy.antivirus.clamd.is_empty() {
            list.push(Box::new(checks::antivirus::Antivirus::new(
                policy.antivirus.clone(),
            )));
        }
        // The spam score last: it reads the Authentication-Results added above (R-POL-5).
        if policy.spam.enabled {
            list.push(Box::new(checks::spam::Spam::new(policy.spam.clone(), None)));
        }
        Pipeline::new(list)
    }

    /// [`Pipeline::from_policy`] whose spam score also uses what users taught (R-POL-5): the
    /// binary passes the store's Bayes counts here.
    pub fn from_policy_with_bayes(
        policy: &Policy,
        bayes: std::sync::Arc<dyn checks::spam::BayesSource>,
    ) -> Self {
        let mut pipeline = Self::from_policy(policy);
        if let Some(slot) = pipeline.checks.iter_mut().find(|c| c.name() == "spam") {
            *slot = Box::new(checks::spam::Spam::new(policy.spam.clone(), Some(bayes)));
        }
        pipeline
    }

    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// `raw` without the top-level header fields any check calls forged
    /// ([`Check::is_forged_field`]), or `None` when it has none. Delivery calls this once the
    /// verdict is to deliver, before adding the checks' own fields: the checks (DKIM above all)
    /// saw the message as it came, since removing a signed field would break its signature.
    pub fn remove_forged_fields(&self, source: Source, raw: &[u8]) -> Option<Vec<u8>> {
        fields::remove_fields(raw, |field| {
            let forged = self
                .checks
                .iter()
                .any(|check| check.is_forged_field(source, field));
            if forged {
                tracing::info!(
                    field = field.name,
                    "removed a forged header field (RFC 8601 §5)"
                );
            }
            forged
        })
    }

    /// Runs the checks; each one's time goes to `congvu_pipeline_check_seconds{check}` and
    /// the verdict to `congvu_messages_total{source,verdict}` (R-OPS-5, `GET /metrics`).
    pub async fn check(&self, ctx: &MessageContext<'_>) -> Verdict {
        let verdict = self.run_checks(ctx).await;
        let name = match &verdict {
            Verdict::Accept { .. } => "accept",
            Verdict::Junk { .. } => "junk",
            Verdict::Reject(_) => "reject",
            Verdict::Quarantine { .. } => "quarantine",
        };
        let source = match ctx.source {
            Source::Mx => "mx",
            Source::Submission => "submission",
            Source::Append => "append",
            Source::Webmail => "webmail",
        };
        congvu_core::metrics::count(
            "congvu_messages_total",
            "Messages through the policy pipeline by entry point and verdict.",
            &[("source", source), ("verdict", name)],
            1,
        );
        verdict
    }

    async fn run_checks(&self, ctx: &MessageContext<'_>) -> Verdict {
        let message = MessageView::new(ctx);
        let mut add_headers = Vec::new();
        let mut junk = false;
        for check in &self.checks {
            let started = Instant::now();
            let outcome = check.on_data_after(&message, &add_headers).await;
            let elapsed_us = started.elapsed().as_micros() as u64;
            tracing::debug!(check = check.name(), elapsed_us, "check done");
            congvu_core::metrics::observe_us(
                "congvu_pipeline_check_seconds",
                "Time each pipeline check takes per message.",
                &[("check", check.name())],
                elapsed_us,
            );
            match outcome {
                Outcome::Pass => {}
                Outcome::AddHeaders(h) => add_headers.extend(h),
                Outcome::Junk(h) => {
                    junk = true;
                    add_headers.extend(h);
                }
                Outcome::Reject(reply) => {
                    tracing::info!(check = check.name(), code = reply.code, reason = %reply.text, "message rejected");
                    return Verdict::Reject(reply);
                }
                Outcome::Quarantine(reason) => {
                    tracing::info!(check = check.name(), %reason, "message quarantined");
                    return Verdict::Quarantine { reason };
                }
            }
        }
        if junk {
            Verdict::Junk { add_headers }
        } else {
            Verdict::Accept { add_headers }
        }
    }
}
