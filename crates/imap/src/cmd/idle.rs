//! IDLE (RFC 2177, RFC 9051 §6.3.13): push EXISTS, EXPUNGE and FETCH FLAGS while the client
//! waits, until it sends DONE.
//!
//! What it keeps true: changes are computed from `store.changes_since` with the snapshot's
//! MODSEQ, never from the notification alone (a notification only says "look again"), so a
//! lagging notification channel loses nothing. The session's inactivity limit still applies.

use crate::conn::Line;
use crate::done::Done;
use crate::response::Status;
use crate::session::{Session, State};
use tokio::sync::broadcast::error::RecvError;

pub async fn idle(session: &mut Session, tag: &str) -> std::io::Result<Option<Done>> {
    let mut changes = session.ctx.store.subscribe();
    session.io.out.text("+ idling\r\n");
    sync(session).await;
    session.io.flush().await?;
    let limit = session.ctx.config.idle_timeout;
    let shutdown = session.shutdown.clone();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            line = session.io.read_line() => {
                match line? {
                    Line::Complete(l) => {
                        let text = String::from_utf8_lossy(&l);
                        if text.trim().eq_ignore_ascii_case("DONE") {
                            sync(session).await;
                            return Ok(Some(Done::ok("IDLE terminated")));
                        }
                        session.io.out.status(tag, Status::Bad, None, "expected DONE");
                        return Ok(None);
                    }
                    Line::TooLong | Line::Eof => {
                        session.state = State::Logout;
                        return Ok(None);
                    }
                }
            }
            change = changes.recv() => {
                let relevant = match (&change, &session.state) {
                    (Ok(c), State::Selected(_, sel)) => c.folder == sel.folder.id,
                    (Err(RecvError::Lagged(_)), State::Selected(..)) => true,
                    (Err(RecvError::Closed), _) => {
                        // The store is going away; stop listening but keep the client idle.
                        changes = tokio::sync::broadcast::channel(1).1;
                        false
                    }
                    _ => false,
                };
                if relevant {
                    sync(session).await;
                    session.io.flush().await?;
                }
            }
            _ = shutdown.cancelled() => {
                session.io.out.untagged("BYE server shutting down");
                session.state = State::Logout;
                return Ok(None);
            }
            _ = &mut deadline => {
                session.io.out.untagged("BYE autologout: idle for too long");
                session.state = State::Logout;
                return Ok(None);
            }
        }
    }
}

async fn sync(session: &mut Session) {
    if let State::Selected(_, sel) = &mut session.state
        && let Err(e) = sel
            .sync(session.ctx.store.as_ref(), &mut session.io.out, true)
            .await
    {
        tracing::warn!(error = %e, "imap idle sync failed");
    }
}
