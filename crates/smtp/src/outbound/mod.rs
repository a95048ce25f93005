//! Outbound delivery: the client side of SMTP that hands queued mail to other mail systems.
//!
//! The queue worker ([`crate::queue::run_queue`]) claims due recipients from the store and
//! calls [`deliver_to_domain`] once per (message, recipient domain): one transaction carries
//! every recipient of that domain (RFC 5321 §3.3: one transaction, many RCPT), and sessions
//! are kept open for a few seconds so the next message to the same host reuses them
//! ([`SessionPool`]).
//!
//! Implementation notes — what this module keeps true:
//! - Routing follows RFC 5321 §5.1: MX records by preference, the domain's own A/AAAA when
//!   it has no MX, and a null MX (RFC 7505, a single `0 .`) is a permanent failure. With a
//!   `relay` configured, every message goes to that smarthost instead.
//! - Each recipient gets its own outcome: 2xx delivered, 4xx (or no answer) temporary,
//!   5xx permanent (RFC 5321 §4.2.1). A transport failure is temporary for everyone.
//! - TLS is opportunistic by default: STARTTLS (RFC 3207) is used whenever the server offers
//!   it, and the certificate is NOT verified, as RFC 7435 describes for opportunistic security
//!   (refusing a self-signed MX would only make us fall back to plain text, which is worse).
//!   Where the recipient domain publishes it, TLS is authenticated and mandatory: DANE
//!   (RFC 7672, `dane.rs`) for MX hosts with DNSSEC-signed TLSA records, else an MTA-STS
//!   policy in `enforce` mode (RFC 8461, `mta_sts.rs`); DANE wins where both apply (RFC 8461
//!   §2). Their failures are temporary (`4.7.5`) and never fall back to plain text.
//!   A configured relay is different: its certificate is verified against the system roots.
//! - Mail is signed with DKIM (RFC 6376) by every key loaded for the envelope sender's
//!   domain, just before it leaves; the stored blob is never changed.

mod client;
pub mod dane;
pub mod dkim;
pub mod mta_sts;
mod route;

pub(crate) use client::tls_connectors;
pub use client::{
    Attempt, DomainOutcome, HostTls, RecipientOutcome, SessionPool, deliver_to_domain,
};
pub use dkim::{DkimAlgorithm, DkimKey, generate_dkim_key, load_dkim_keys, sign_message};
pub use route::{Route, RouteError, RouteHost, build_resolver, resolve_route};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A smarthost that takes all outbound mail (instead of MX delivery).
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub host: String,
    pub port: u16,
    /// AUTH PLAIN/LOGIN credentials, when the relay asks for them.
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS from the first byte (port 465, RFC 8314); otherwise STARTTLS when offered.
    pub implicit_tls: bool,
}

/// Settings of outbound delivery and the queue (the `[outbound]` and `[queue]` sections).
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Our host name: in EHLO, `Reporting-MTA` and the bounces' From (MAILER-DAEMON@hostname).
    pub hostname: String,
    /// DNS server for MX/A/AAAA lookups; `None` uses the system's (`/etc/resolv.conf`).
    pub dns: Option<SocketAddr>,
    /// Port of remote MX hosts (25; tests point it elsewhere).
    pub smtp_port: u16,
    /// Waits after the 1st, 2nd, … failed attempt; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// A message still undelivered this long after it was queued is bounced (RFC 5321
    /// §4.5.4.1 suggests 4–5 days).
    pub max_age: Duration,
    /// A "delayed" notice (RFC 3464 `Action: delayed`) is sent once after this.
    pub delay_warning_after: Duration,
    /// Connections at once to one recipient domain.
    pub per_domain_concurrency: usize,
    /// How often the worker looks for due entries when it has nothing to do.
    pub poll_interval: Duration,
    /// Time allowed for each SMTP command and reply (RFC 5321 §4.5.3.2 asks for minutes).
    pub command_timeout: Duration,
    pub relay: Option<RelayConfig>,
    pub dkim: Vec<Arc<DkimKey>>,
    /// DANE (RFC 7672) with the AD bit of `dns` (a local validating resolver); see `dane.rs`.
    pub dane: bool,
    /// MTA-STS (RFC 8461); see `mta_sts.rs`.
    pub mta_sts: bool,
    /// Extra CA certificates (PEM) trusted for MTA-STS, besides the system roots.
    pub mta_sts_ca_file: Option<std::path::PathBuf>,
    /// Port of `mta-sts.<domain>` policy servers (443; tests change it).
    pub mta_sts_port: u16,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            hostname: "localhost".into(),
            dns: None,
            smtp_port: 25,
            retry_schedule: [300, 600, 1800, 3600, 7200, 14400]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_age: Duration::from_secs(5 * 24 * 3600),
            delay_warning_after: Duration::from_secs(4 * 3600),
            per_domain_concurrency: 4,
            poll_interval: Duration::from_secs(2),
            command_timeout: Duration::from_secs(120),
            relay: None,
            dkim: Vec::new(),
            dane: true,
            mta_sts: true,
            mta_sts_ca_file: None,
            mta_sts_port: 443,
        }
    }
}

/// What the queue worker needs: storage, the policy pipeline (for bounces delivered to local
/// mailboxes) and settings.
pub struct OutboundContext {
    pub store: Arc<dyn congvu_store::Store>,
    pub blobs: Arc<dyn congvu_store::BlobStore>,
    pub pipeline: Arc<congvu_pipeline::Pipeline>,
    pub config: OutboundConfig,
}
