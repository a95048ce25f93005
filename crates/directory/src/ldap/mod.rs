//! The read-only LDAP server (RFC 4511) that lets Thunderbird and Outlook use the directory as
//! an address book.
//!
//! Implementation notes (what this module keeps true):
//! - Read-only: Add, Modify, Delete and ModifyDN are answered unwillingToPerform (53).
//! - Who may read is configuration: with `anonymous` off, only a simple bind of an active
//!   mailbox with its password opens searches (others get insufficientAccessRights, 50); the
//!   root DSE (RFC 4512 §5.1) is readable by anyone, so clients can discover the naming
//!   context before binding.
//! - Bad input costs only its own connection: a message the codec cannot read, or one larger
//!   than [`MAX_MESSAGE`], gets a Notice of Disconnection (RFC 4511 §4.4.1, protocolError) and
//!   the connection is closed; nothing a client sends can panic the server.
//! - Each search reads the directory afresh (two store queries), so a revoked mailbox is gone
//!   from the next search. Answers are bounded by the size limit.
//! - Passwords travel encrypted: `[listen] ldaps` speaks TLS from the first byte (what Outlook
//!   and Thunderbird call "use SSL"), and the plain listener offers StartTLS (RFC 4511 §4.14,
//!   RFC 4513 §3) when a certificate is configured. A simple bind with a password over a plain
//!   connection from another machine is refused with confidentialityRequired (13, RFC 4513
//!   §5.1.2 and §6.3.4); loopback is exempt as for IMAP and POP3.
//! - Shutdown stops accepting, tells open connections (Notice of Disconnection, unavailable)
//!   and waits for them up to [`DRAIN_TIMEOUT`].

pub mod dn;
pub mod filter;
mod session;
pub mod tree;

use congvu_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest LDAP message read, in octets. Requests of an address book are a few hundred
/// octets; 64 KiB leaves room for long filters and refuses anything meant to fill memory.
pub const MAX_MESSAGE: usize = 64 << 10;
/// Deepest BER nesting read (a filter of 32 nested NOTs and the message around it fit).
pub const MAX_BER_DEPTH: usize = 48;
/// Failed binds after which a connection is closed.
pub const MAX_BIND_FAILURES: u32 = 5;
/// Most entries one search returns unless configured otherwise: a whole province's staff is
/// a few thousand; an address book asks for a few names.
pub const DEFAULT_SIZE_LIMIT: usize = 1000;
/// A connection silent this long is closed (address books open one per lookup).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Time allowed for a TLS handshake (ldaps or after StartTLS).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long open connections may take to finish at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// The naming context, e.g. `dc=bacgiang,dc=gov,dc=vn`.
    pub base_dn: String,
    /// The province's mail domain: names the organisation on the base entry and completes a
    /// bind as `uid=annv`.
    pub domain: String,
    /// Whether searches are open without a bind (`[directory] ldap_anonymous`).
    pub anonymous: bool,
    /// Most entries one search returns; a client may ask for fewer (RFC 4511 §4.5.1.4).
    pub size_limit: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Password ages for the shared login check (`[policy]`): an expired password cannot
    /// bind here either.
    pub login_policy: congvu_store::login::LoginPolicy,
}

pub struct LdapContext {
    pub store: Arc<dyn Store>,
    /// The certificate for `ldaps` and StartTLS; `None` offers neither.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    pub config: LdapConfig,
    /// Seconds since the epoch, for the audit log (the binary owns the clock).
    pub now: fn() -> i64,
}

/// Accepts plain connections (with StartTLS when a certificate is configured) until
/// `shutdown`, then drains them.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, ctx, shutdown, false).await
}

/// Accepts `ldaps` connections (TLS from the first byte) until `shutdown`, then drains them.
pub async fn serve_tls(
    listener: TcpListener,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if ctx.tls.is_none() {
        return Err(std::io::Error::other(
            "[listen] ldaps needs a certificate ([tls] cert and key)",
        ));
    }
    serve_with(listener, ctx, shutdown, true).await
}

async fn serve_with(
    listener: TcpListener,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
    implicit_tls: bool,
) -> std::io::Result<()> {
    congvu_listener::serve_connections(
        listener,
        shutdown.clone(),
        DRAIN_TIMEOUT,
        if implicit_tls { "ldaps" } else { "ldap" },
        move |stream, peer| {
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            async move { session::run_connection(stream, peer, ctx, shutdown, implicit_tls).await }
        },
    )
    .await
}
