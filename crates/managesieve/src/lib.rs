//! The ManageSieve server (RFC 5804): mail programs and webmail upload, check, list and
//! activate the Sieve scripts that run at delivery.
//!
//! Implementation notes — what this crate keeps true:
//! - A script is stored only after it parsed (`congvu_wire::sieve::parse`) and passed the
//!   forwarding policy (R-POL-6): a `redirect` outside the government domains is refused at
//!   PUTSCRIPT with the reason, never silently dropped at delivery.
//! - No password crosses the network in clear text: AUTHENTICATE is refused before STARTTLS
//!   unless the operator allowed it for loopback clients; SASL PLAIN is offered only then.
//! - Logins go through the one login check of every service (`congvu_store::login`):
//!   suspended, revoked and expired mailboxes are refused the same way as over IMAP.
//! - Nothing a client sends is held without bound: command lines ([`MAX_LINE`]), literals
//!   ([`MAX_LITERAL`]), scripts per mailbox ([`MAX_SCRIPTS`]), failed logins and bad commands
//!   per connection are capped.
//! - One task per connection; reads and writes are bounded by the idle timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod command;
mod policy;
mod reply;
mod session;

pub use policy::redirect_refusal;

/// A command line without its literals. RFC 5804 sets no limit; 8 KiB holds any real command.
pub const MAX_LINE: usize = 8 * 1024;
/// Largest literal accepted: a script (`congvu_wire::sieve::MAX_SCRIPT_SIZE`) plus headroom.
/// Larger literals are read and thrown away up to [`MAX_DISCARD`], then the connection closes.
pub const MAX_LITERAL: usize = congvu_wire::sieve::MAX_SCRIPT_SIZE;
/// How much of an oversized literal is drained so the client gets a clean `NO (QUOTA/MAXSIZE)`.
pub const MAX_DISCARD: usize = 4 * 1024 * 1024;
/// Scripts per mailbox (RFC 5804 §1.3 QUOTA/MAXSCRIPTS): a person needs a handful.
pub const MAX_SCRIPTS: usize = 32;
/// Longest script name, in characters (RFC 5804 §1.6 leaves it to the server).
pub const MAX_NAME_CHARS: usize = 128;
/// Failed logins per connection before it is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;
/// Time a failed login costs the client.
pub const LOGIN_FAILURE_DELAY: Duration = Duration::from_millis(1500);
/// Bad commands per connection before it is closed.
pub const MAX_ERRORS: u32 = 20;
/// How long `serve` waits for sessions after shutdown was asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a TLS handshake after STARTTLS.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the ManageSieve listener.
#[derive(Debug, Clone)]
pub struct ManageSieveConfig {
    pub hostname: String,
    pub idle_timeout: Duration,
    /// Allow AUTHENTICATE without TLS for clients on a loopback address.
    pub allow_plaintext_auth_on_loopback: bool,
    /// `[policy] government_domains`: where `redirect` may send mail (R-POL-6); a domain
    /// covers its subdomains.
    pub government_domains: Vec<String>,
    pub login_policy: congvu_store::login::LoginPolicy,
    /// The clock (seconds since the epoch), handed down by the binary.
    pub now: fn() -> i64,
}

impl Default for ManageSieveConfig {
    fn default() -> Self {
        ManageSieveConfig {
            hostname: "localhost".into(),
            idle_timeout: Duration::from_secs(30 * 60),
            allow_plaintext_auth_on_loopback: false,
            government_domains: vec!["gov.vn".into()],
            login_policy: congvu_store::login::LoginPolicy::default(),
            now: congvu_store::login::system_now,
        }
    }
}

pub struct ManageSieveContext {
    pub store: Arc<dyn congvu_store::Store>,
    /// When present, STARTTLS is offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub config: ManageSieveConfig,
}

/// Accepts connections until `shutdown` is cancelled, then waits (at most [`DRAIN_TIMEOUT`])
/// for the sessions, which answer `BYE` at their next command.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ManageSieveContext>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    congvu_listener::serve_connections(
        listener,
        shutdown.clone(),
        DRAIN_TIMEOUT,
        "managesieve",
        move |stream, peer| {
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            async move { session::run_connection(stream, peer, ctx, shutdown).await }
        },
    )
    .await
}
