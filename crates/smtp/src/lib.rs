//! The SMTP MX: receives mail for the hosted domains from other mail systems (RFC 5321, with
//! the ESMTP extensions PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING
//! and STARTTLS).
//!
//! Implementation notes — what this crate keeps true:
//! - A `250` to DATA or BDAT LAST is written only after `Store::deliver` returned `Ok`, so an
//!   accepted message is on stable storage; on shutdown a session finishes the transaction it
//!   is receiving before it answers `421` and closes.
//! - The MX never relays: a recipient outside `hosted_domains` is refused at RCPT.
//! - Every message goes through `Pipeline::check` with `Source::Mx`; nothing else stores mail.
//! - No input can make a session allocate without bound: command lines are capped at
//!   [`inbound::MAX_COMMAND_LINE`], message bodies at `max_message_size` (the excess is read
//!   and discarded so the session stays in step with the client).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod inbound;
mod reply;

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
        }
    }
}

/// What every session needs: storage, the policy pipeline, TLS material and settings.
pub struct SmtpContext {
    pub store: Arc<dyn congvu_store::Store>,
    pub blobs: Arc<dyn congvu_store::BlobStore>,
    pub pipeline: Arc<congvu_pipeline::Pipeline>,
    /// When present, STARTTLS is offered (RFC 3207).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub config: SmtpConfig,
}

/// How long `serve` waits for sessions to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` is cancelled, then stops accepting and waits (at most
/// [`DRAIN_TIMEOUT`]) for the sessions, which finish any message they are receiving and then
/// answer `421 4.3.2` and close.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<SmtpContext>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let ctx = ctx.clone();
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    inbound::session::run_connection(stream, peer, ctx, shutdown).await;
                });
            }
            Err(error) => {
                // Running out of file descriptors or a connection reset before accept:
                // neither is a reason to stop the listener. Back off briefly so that a
                // persistent error does not spin.
                tracing::warn!(%error, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("smtp sessions still open after the drain timeout; leaving them");
    }
    Ok(())
}
