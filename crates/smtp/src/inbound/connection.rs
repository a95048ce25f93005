//! The byte stream under a session: one fixed read buffer and one reply buffer.
//!
//! Keeps true:
//! - Replies are only written to the socket when the session needs more input (or closes), so
//!   the replies to a pipelined group of commands leave in one write (RFC 2920 §3.1: the
//!   server may batch responses, and must flush before it blocks waiting for input).
//! - Reads and writes are bounded by the idle timeout (RFC 5321 §4.5.3.2), so a silent or
//!   non-reading client cannot hold a session for ever.
//! - The read buffer has a fixed size; nothing here grows with input.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Size of the read buffer: large enough for a pipelined group of commands and for message
/// data to arrive in big reads, far above [`super::MAX_COMMAND_LINE`].
const READ_BUFFER: usize = 64 * 1024;

/// What waiting for input produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    Data,
    Eof,
    Timeout,
    Shutdown,
}

/// How reading a message body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    Done,
    Eof,
    Timeout,
}

pub(crate) struct Connection<S> {
    stream: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Replies not yet written.
    pub(crate) out: Vec<u8>,
    idle: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub(crate) fn new(stream: S, idle: Duration) -> Self {
        Connection {
            stream,
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::with_capacity(1024),
            idle,
        }
    }

    /// Input received and not yet consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Gives the stream back, dropping unread input and unwritten replies.
    pub(crate) fn into_stream(self) -> S {
        self.stream
    }

    /// Writes pending replies.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.idle, write).await {
            Ok(result) => {
                self.out.clear();
                result
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client does not read",
            )),
        }
    }

    /// Flushes pending replies, then waits for more input. With `shutdown`, returns
    /// [`Filled::Shutdown`] as soon as it is cancelled.
    pub(crate) async fn fill(
        &mut self,
        shutdown: Option<&CancellationToken>,
    ) -> io::Result<Filled> {
        self.flush().await?;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Callers consume complete lines and body bytes as they come, and refuse
            // command lines above MAX_COMMAND_LINE, so a full buffer is a bug, not input.
            return Err(io::Error::other("read buffer full"));
        }
        let idle = self.idle;
        let read = tokio::time::timeout(idle, self.stream.read(&mut self.buf[self.end..]));
        let result = match shutdown {
            Some(token) => tokio::select! {
                biased;
                _ = token.cancelled() => return Ok(Filled::Shutdown),
                result = read => result,
            },
            None => read.await,
        };
        match result {
            Err(_) => Ok(Filled::Timeout),
            Ok(Ok(0)) => Ok(Filled::Eof),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(Filled::Data)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// Feeds input to `feed` until it says it has seen the end of the body. `feed` gets the
    /// buffered bytes and returns how many it used and whether the body is complete.
    pub(crate) async fn read_body(
        &mut self,
        mut feed: impl FnMut(&[u8]) -> (usize, bool),
    ) -> io::Result<BodyEnd> {
        loop {
            if self.start < self.end {
                let (used, done) = feed(&self.buf[self.start..self.end]);
                self.consume(used);
                if done {
                    return Ok(BodyEnd::Done);
                }
            }
            match self.fill(None).await? {
                Filled::Data | Filled::Shutdown => {}
                Filled::Eof => return Ok(BodyEnd::Eof),
                Filled::Timeout => return Ok(BodyEnd::Timeout),
            }
        }
    }

    /// Flushes and closes the write side.
    pub(crate) async fn close(&mut self) {
        if self.flush().await.is_ok() {
            let _ = tokio::time::timeout(self.idle, self.stream.shutdown()).await;
        }
    }
}
