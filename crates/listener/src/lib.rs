//! The accept loop every protocol server shares (SMTP, IMAP, POP3, ManageSieve, LDAP): one
//! task per connection, and on shutdown stop accepting, then wait a bounded time for the
//! sessions to finish (each session watches the same token and says goodbye in its own
//! protocol).
//!
//! Its own crate because protocol servers never depend on each other (DESIGN.md) and `core`
//! has no I/O.
//!
//! Keeps true: an accept error (out of file descriptors, a connection reset before accept)
//! never stops the listener; it backs off briefly so a lasting error does not spin.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `shutdown` is cancelled, running `session(stream, peer)` on a
/// task of its own for each, then waits at most `drain` for the sessions. `service` names the
/// listener in logs.
pub async fn serve_connections<F, Fut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    drain: Duration,
    service: &'static str,
    mut session: F,
) -> std::io::Result<()>
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracker.spawn(session(stream, peer));
            }
            Err(error) => {
                tracing::warn!(%error, service, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            service,
            "sessions still open after the drain timeout; leaving them"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_until_shutdown_then_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let server = tokio::spawn(serve_connections(
            listener,
            shutdown.clone(),
            Duration::from_secs(5),
            "test",
            move |mut stream, _peer| {
                let stop = stop.clone();
                async move {
                    let _ = stream.write_all(b"hello\n").await;
                    // A session ends when shutdown is asked for.
                    stop.cancelled().await;
                    let _ = stream.write_all(b"bye\n").await;
                }
            },
        ));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 6];
        client.read_exact(&mut buf).await.expect("hello");
        assert_eq!(&buf, b"hello\n");
        shutdown.cancel();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("bye");
        assert_eq!(rest, b"bye\n");
        server.await.expect("joined").expect("served");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
