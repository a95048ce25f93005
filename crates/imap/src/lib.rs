//! The IMAP4rev1 server (RFC 3501 / RFC 9051 behaviour where they agree) with IDLE, NAMESPACE,
//! UIDPLUS, MOVE, SPECIAL-USE, UNSELECT, CHILDREN, LITERAL+, ENABLE, ID, SASL-IR, UTF8=ACCEPT,
//! APPENDLIMIT, CONDSTORE and QRESYNC (RFC 7162), ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
//! SORT and THREAD=ORDEREDSUBJECT/REFERENCES (RFC 5256), LIST-EXTENDED/LIST-STATUS, BINARY,
//! MULTIAPPEND, QUOTA and ACL on unit mailboxes shared under "Shared/" (see docs/rfc-status.md).
//!
//! Implementation notes (invariants):
//! - Commands are parsed with imap-codec; framing (lines, literals, continuation requests) is
//!   ours, in `conn.rs`, so every size limit is checked before bytes are read.
//! - One task per connection; a session holds no lock while it writes to its socket, so a slow
//!   client never blocks another.
//! - The session's view of a folder (`selected.rs`) changes only at points RFC 9051 §7.5.1
//!   allows, so sequence numbers never shift under a client mid-command.
//! - Message structure comes from the index stored at delivery; blobs are only sliced.

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod binary;
mod bodystructure;
mod cmd;
mod collate;
mod conn;
mod done;
mod esearch;
#[doc(hidden)]
pub mod fuzzing;
mod names;
mod rawargs;
mod response;
mod section;
mod selected;
mod session;
mod shared;

/// Settings of the IMAP listeners.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// Name shown in the greeting.
    pub hostname: String,
    /// Largest message APPEND accepts (advertised as APPENDLIMIT, RFC 7889).
    pub max_literal: u64,
    /// Inactivity limit once authenticated (RFC 9051 §5.4: at least 30 minutes).
    pub idle_timeout: Duration,
    /// Allow LOGIN/AUTHENTICATE without TLS when the client connects from a loopback address.
    pub allow_plaintext_auth_on_loopback: bool,
    /// Storage limit of each account's mailbox in octets (RFC 9208 STORAGE); 0 = no quota.
    pub quota_bytes: u64,
    /// Password ages for the shared login check (`[policy]`).
    pub login_policy: congvu_store::login::LoginPolicy,
    /// The clock (seconds since the epoch), handed down by the binary.
    pub now: fn() -> i64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            hostname: "localhost".to_string(),
            max_literal: 64 << 20,
            idle_timeout: Duration::from_secs(30 * 60),
            allow_plaintext_auth_on_loopback: false,
            quota_bytes: 0,
            login_policy: congvu_store::login::LoginPolicy::default(),
            now: congvu_store::login::system_now,
        }
    }
}

/// Inactivity limit before login: a connection that does not authenticate is not kept open
/// for the 30 minutes RFC 9051 §5.4 grants authenticated clients.
pub const PRE_AUTH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `serve` waits for sessions to finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything a session needs, built once by the binary.
pub struct ImapContext {
    pub store: Arc<dyn congvu_store::Store>,
    pub blobs: Arc<dyn congvu_store::BlobStore>,
    pub pipeline: Arc<congvu_pipeline::Pipeline>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub config: ImapConfig,
}

/// Whether a listener starts in clear text (offering STARTTLS) or in TLS (port 993).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    StartTls,
    Implicit,
}

/// Accepts connections until `shutdown` is cancelled, then tells every session to finish
/// (`* BYE` after its current command) and waits for them, at most `SHUTDOWN_GRACE`.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ImapContext>,
    mode: TlsMode,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if mode == TlsMode::Implicit && ctx.tls.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "implicit TLS IMAP listener needs a TLS configuration",
        ));
    }
    congvu_listener::serve_connections(
        listener,
        shutdown.clone(),
        SHUTDOWN_GRACE,
        "imap",
        move |stream, peer| {
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            async move { session::run(stream, peer, ctx, mode, shutdown).await }
        },
    )
    .await
}
