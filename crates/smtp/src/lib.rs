//! SMTP: the MX receives mail for the hosted domains from other mail systems (RFC 5321, with
//! the ESMTP extensions PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING
//! and STARTTLS); submission (RFC 6409, ports 587 with STARTTLS and 465 with implicit TLS,
//! RFC 8314) takes mail from our own users after AUTH (RFC 4954). Both run the same session
//! code with a mode flag.
//!
//! Implementation notes — what this crate keeps true:
//! - A `250` to DATA or BDAT LAST is written only after `Store::deliver` returned `Ok`, so an
//!   accepted message is on stable storage; on shutdown a session finishes the transaction it
//!   is receiving before it answers `421` and closes.
//! - The MX never relays: a recipient outside `hosted_domains` is refused at RCPT.
//! - Every message goes through `Pipeline::check` (`Source::Mx` or `Source::Submission`)
//!   before it is stored or queued.
//! - Submission never takes a password outside TLS (loopback included), never relays for a
//!   client that has not logged in, and lets a user send only as their own address or a
//!   unit mailbox they keep (`inbound::sender`).
//! - No input can make a session allocate without bound: command lines are capped at
//!   [`inbound::MAX_COMMAND_LINE`], message bodies at `max_message_size` (the excess is read
//!   and discarded so the session stays in step with the client).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod inbound;
pub mod notices;
pub mod outbound;
pub mod queue;
mod reply;

pub use outbound::{OutboundConfig, OutboundContext, RelayConfig, load_dkim_keys};
pub use queue::run_queue;

pub use inbound::limits::SubmissionLimits;
use inbound::session::{Mode, run_session};

/// Settings of the MX listener.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Our host name: in the greeting, the EHLO reply and `Received:` headers.
    pub hostname: String,
    /// Domains we accept mail for; compared case-insensitively.
    pub hosted_domains: Vec<String>,
    /// Largest message accepted, in octets; advertised in the EHLO `SIZE` keyword (RFC 1870).
    pub max_message_size: u64,
    /// Recipients per transaction; more get `452 4.5.3` (RFC 5321 §4.5.3.1.8 requires ≥ 100).
    pub max_recipients: usize,
    /// Failed commands before the session is closed with `421 4.7.0`.
    pub max_errors: usize,
    /// Time a client may stay silent (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub idle_timeout: Duration,
    /// Per-user limits of the submission listeners.
    pub submission: SubmissionConfig,
    /// Password ages for the shared login check of submission (`[policy]`).
    pub login_policy: congvu_store::login::LoginPolicy,
    /// The clock (seconds since the epoch), handed down by the binary.
    pub now: fn() -> i64,
    /// `[policy] government_domains`: where a Sieve `redirect` may send mail at delivery
    /// (R-POL-6); each covers its subdomains.
    pub government_domains: Vec<String>,
}

/// Per-user sending limits of submission (ports 587 and 465). Counted in this process's
/// memory per login (see [`SubmissionLimits`]); shared counting across nodes comes with the
/// PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct SubmissionConfig {
    /// Messages one login may send in any sliding hour; more get `450 4.7.1`.
    pub max_messages_per_hour: u32,
    /// Recipients of one submitted message; more get `452 4.5.3`.
    pub max_recipients_per_message: usize,
    /// `[security]`: sending anomalies and the outbound hold (R-POL-9); off by default.
    pub security: congvu_core::security::SecurityPolicy,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            max_messages_per_hour: 200,
            max_recipients_per_message: 100,
            security: congvu_core::security::SecurityPolicy::OFF,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".to_string(),
            hosted_domains: Vec::new(),
            max_message_size: 50 << 20,
            max_recipients: 1000,
            max_errors: 10,
            idle_timeout: Duration::from_secs(300),
            submission: SubmissionConfig::default(),
            login_policy: congvu_store::login::LoginPolicy::default(),
            now: congvu_store::login::system_now,
            government_domains: vec!["gov.vn".to_string()],
        }
    }
}

/// What every session needs: storage, the policy pipeline, TLS material and settings.
pub struct SmtpContext {
    pub store: Arc<dyn congvu_store::Store>,
    pub blobs: Arc<dyn congvu_store::BlobStore>,
    pub pipeline: Arc<congvu_pipeline::Pipeline>,
    /// When present, STARTTLS is offered (RFC 3207); submission requires it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub config: SmtpConfig,
    /// Submission's per-login counters; share one context between the 587 and 465
    /// listeners so that both count together.
    pub limits: SubmissionLimits,
}

/// How long `serve` waits for sessions to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts MX connections until `shutdown` is cancelled, then stops accepting and waits (at
/// most [`DRAIN_TIMEOUT`]) for the sessions, which finish any message they are receiving and
/// then answer `421 4.3.2` and close.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<SmtpContext>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    accept_sessions(listener, ctx, Mode::Mx, false, shutdown).await
}

/// Accepts submission connections (RFC 6409) like [`serve`]: on port 587 with
/// `implicit_tls = false` (STARTTLS, RFC 3207), on port 465 with `implicit_tls = true`
/// (RFC 8314 §3.3). Refuses to start without TLS material: AUTH is only offered inside TLS,
/// so a submission listener without it could never accept a message.
pub async fn serve_submission(
    listener: TcpListener,
    ctx: Arc<SmtpContext>,
    implicit_tls: bool,
    shutdown: CancellationToken,
) -> io::Result<()> {
    if ctx.tls.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "submission needs TLS material (a certificate and key): AUTH is only offered inside TLS",
        ));
    }
    accept_sessions(listener, ctx, Mode::Submission, implicit_tls, shutdown).await
}

async fn accept_sessions(
    listener: TcpListener,
    ctx: Arc<SmtpContext>,
    mode: Mode,
    implicit_tls: bool,
    shutdown: CancellationToken,
) -> io::Result<()> {
    congvu_listener::serve_connections(
        listener,
        shutdown.clone(),
        DRAIN_TIMEOUT,
        "smtp",
        move |stream, peer| {
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            async move { run_session(stream, peer, ctx, mode, implicit_tls, shutdown).await }
        },
    )
    .await
}
