//! The POP3 server (RFC 1939) with CAPA, RESP-CODES, AUTH-RESP-CODE, PIPELINING, UIDL, TOP
//! (RFC 2449), STLS (RFC 2595), USER/PASS and SASL PLAIN (RFC 5034, RFC 4616).
//!
//! Implementation notes — what this crate keeps true:
//! - The maildrop is the account's INBOX. Message numbers are fixed when the session enters
//!   the TRANSACTION state and never shift under the client (RFC 1939 §5); messages that
//!   arrive later are seen by the next session.
//! - A unique-id is `<uidvalidity>.<uid>`: the same across sessions and the same message IMAP
//!   calls by that UID (RFC 1939 §7 UIDL).
//! - DELE only marks a message in the session. Nothing is removed from the store unless the
//!   client sends QUIT in the TRANSACTION state (the UPDATE state, RFC 1939 §6); a dropped
//!   connection, a timeout or a server shutdown removes nothing.
//! - RETR marks the message `\Seen` in the store when it is sent, so webmail and IMAP show
//!   mail downloaded by POP3 as read (RFC 1939 says nothing about flags; this is our choice).
//!   TOP does not.
//! - One POP3 session per mailbox at a time, across every listener ([`MailboxLocks`]); a
//!   second one gets `-ERR [IN-USE]` (RFC 2449 §8.1.2). IMAP is not locked out.
//! - No password crosses the network in clear text: USER/PASS and AUTH are refused before
//!   STLS unless the operator allowed it for loopback clients.
//! - No input makes a session allocate without bound: command lines are capped
//!   ([`MAX_COMMAND_LINE`], [`MAX_AUTH_LINE`]), and so are failed logins and bad commands.
//! - One task per connection; no lock is held while writing to a socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod cmd;
mod command;
mod conn;
mod locks;
mod maildrop;
mod reply;
mod sasl;
mod session;
mod stuffing;

pub use locks::MailboxLocks;

/// RFC 2449 §4: a command line is at most 255 octets including the CRLF.
pub const MAX_COMMAND_LINE: usize = 255;
/// A SASL response line (RFC 5034 §4 lifts the 255-octet limit for them): PLAIN carries a
/// login and a password in base64, so 1 KiB is ample.
pub const MAX_AUTH_LINE: usize = 1024;
/// Failed logins per connection before it is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;
/// Time a failed login costs the client, so one connection cannot guess quickly.
pub const LOGIN_FAILURE_DELAY: Duration = Duration::from_millis(1500);
/// Unknown or malformed commands per connection before it is closed.
pub const MAX_ERRORS: u32 = 20;
/// How long `serve` waits for sessions to finish after shutdown was asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a TLS handshake (implicit TLS or after STLS).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the POP3 listeners.
#[derive(Debug, Clone)]
pub struct Pop3Config {
    /// Our host name, shown in the greeting.
    pub hostname: String,
    /// Time a client may stay silent; RFC 1939 §3 requires at least 10 minutes.
    pub idle_timeout: Duration,
    /// Allow USER/PASS and AUTH without TLS when the client connects from a loopback address.
    pub allow_plaintext_auth_on_loopback: bool,
    /// Password ages for the shared login check (`[policy]`).
    pub login_policy: congvu_store::login::LoginPolicy,
    /// The clock (seconds since the epoch), handed down by the binary.
    pub now: fn() -> i64,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            hostname: "localhost".to_string(),
            idle_timeout: Duration::from_secs(10 * 60),
            allow_plaintext_auth_on_loopback: false,
            login_policy: congvu_store::login::LoginPolicy::default(),
            now: congvu_store::login::system_now,
        }
    }
}

/// Everything a session needs, built once by the binary and shared by both listeners.
pub struct Pop3Context {
    pub store: Arc<dyn congvu_store::Store>,
    pub blobs: Arc<dyn congvu_store::BlobStore>,
    /// When present, STLS is offered (RFC 2595) and the implicit-TLS listener can run.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub config: Pop3Config,
    /// Shared by every listener of this context, so a mailbox is open in one session at most.
    pub locks: MailboxLocks,
}

/// Whether a listener starts in clear text offering STLS (port 110) or in TLS (port 995).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Stls,
    Implicit,
}

/// Accepts connections until `shutdown` is cancelled, then stops accepting and waits (at most
/// [`DRAIN_TIMEOUT`]) for the sessions. A session waiting for a command answers
/// `-ERR [SYS/TEMP]` and closes without entering the UPDATE state, so nothing is deleted.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Pop3Context>,
    mode: TlsMode,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if mode == TlsMode::Implicit && ctx.tls.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the implicit-TLS POP3 listener needs a TLS certificate",
        ));
    }
    congvu_listener::serve_connections(
        listener,
        shutdown.clone(),
        DRAIN_TIMEOUT,
        "pop3",
        move |stream, peer| {
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            async move { session::run_connection(stream, peer, ctx, mode, shutdown).await }
        },
    )
    .await
}
