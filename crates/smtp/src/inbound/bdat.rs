//! BDAT (RFC 3030 CHUNKING): receive a message in counted chunks.
//!
//! Keeps true:
//! - The chunk's octets are always read, even when the command is refused, so the session
//!   stays in step with the client (RFC 3030 §2, §4.2).
//! - Chunks are appended raw (no dot-stuffing, no terminator search); the total is bounded
//!   by `max_message_size`: the excess is read and discarded, the answer is `552 5.3.4` and
//!   the transaction ends.
//! - The message is delivered at BDAT LAST by the same path as DATA.

use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::{BodyEnd, Connection};
use super::deliver::Incoming;
use super::session::{Session, Step};
use crate::reply::Reply;

/// A BDAT message being assembled.
pub(crate) struct BdatBody {
    pub(crate) message: Incoming,
}

impl Session<'_> {
    pub(crate) async fn on_bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Connection<S>,
        chunk_size: usize,
        last: bool,
    ) -> Step {
        let ready = self.tx.as_ref().is_some_and(|tx| !tx.rcpts.is_empty());
        if !ready {
            return match skip_chunk(conn, chunk_size).await {
                Ok(()) => Step::Reply(Reply::new(503, "5.5.1", "Need MAIL and RCPT before BDAT")),
                Err(step) => step,
            };
        }
        let Some(mut tx) = self.tx.take() else {
            return Step::Reply(Reply::new(503, "5.5.1", "Need MAIL command first"));
        };
        let mut body = match tx.bdat.take() {
            Some(body) => body,
            None => {
                let capacity = chunk_size.min(1 << 20);
                BdatBody {
                    message: self.start_message(&tx, capacity),
                }
            }
        };
        let limit = self.ctx.config.max_message_size;
        let fits = body.message.body_len().saturating_add(chunk_size as u64) <= limit;
        if !fits {
            // The transaction is over (self.tx stays None); the chunk is still read.
            return match skip_chunk(conn, chunk_size).await {
                Ok(()) => Step::Reply(Reply::new(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                )),
                Err(step) => step,
            };
        }
        let mut left = chunk_size;
        let raw = &mut body.message.raw;
        if left > 0 {
            let end = conn
                .read_body(|input| {
                    let take = input.len().min(left);
                    raw.extend_from_slice(&input[..take]);
                    left -= take;
                    (take, left == 0)
                })
                .await;
            match end {
                Ok(BodyEnd::Done) => {}
                Ok(BodyEnd::Timeout) => return Step::Timeout,
                Ok(BodyEnd::Eof) | Err(_) => return Step::Close,
            }
        }
        if !last {
            tx.bdat = Some(body);
            self.tx = Some(tx);
            return Step::Reply(Reply::new(
                250,
                "2.0.0",
                format!("{chunk_size} octets received"),
            ));
        }
        Step::Reply(self.deliver(&tx, body.message).await)
    }
}

/// Reads and drops `size` octets of a refused chunk.
async fn skip_chunk<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    size: usize,
) -> Result<(), Step> {
    let mut left = size;
    if left == 0 {
        return Ok(());
    }
    let end = conn
        .read_body(|input| {
            let take = input.len().min(left);
            left -= take;
            (take, left == 0)
        })
        .await;
    match end {
        Ok(BodyEnd::Done) => Ok(()),
        Ok(BodyEnd::Timeout) => Err(Step::Timeout),
        Ok(BodyEnd::Eof) | Err(_) => Err(Step::Close),
    }
}
