//! The byte stream under a session: a fixed read buffer cut into lines, and a reply buffer.
//!
//! Keeps true:
//! - Replies are written when the session waits for input (or closes), so the replies to a
//!   pipelined group of commands leave together (RFC 2449 §6.6 PIPELINING), and always before
//!   the session blocks on a read.
//! - A line longer than the caller's limit is never kept: it is skipped up to its LF and
//!   reported as [`Input::TooLong`]; the read buffer has a fixed size.
//! - Reads and writes are bounded by the idle timeout (RFC 1939 §3 autologout timer), so a
//!   silent or non-reading client cannot hold a session (and its maildrop lock) for ever.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Size of the read buffer: room for a pipelined group of commands, far above every line limit.
const READ_BUFFER: usize = 16 * 1024;

/// What waiting for a line produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// One line with its line end.
    Line(Vec<u8>),
    /// A line above the limit; it was skipped.
    TooLong,
    Eof,
    Timeout,
    Shutdown,
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

    /// Gives the stream back, dropping unread input (RFC 2595 §4: nothing the client sent
    /// before the TLS handshake may be taken as a command after it) and unwritten replies.
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

    /// Flushes pending replies, then returns the next line of at most `limit` octets
    /// (line end included). With `shutdown`, returns [`Input::Shutdown`] as soon as it is
    /// cancelled while waiting.
    pub(crate) async fn read_line(
        &mut self,
        limit: usize,
        shutdown: Option<&CancellationToken>,
    ) -> io::Result<Input> {
        let mut skipping = false;
        loop {
            let buffered = &self.buf[self.start..self.end];
            match buffered.iter().position(|b| *b == b'\n') {
                Some(lf) => {
                    let line_len = lf + 1;
                    let line =
                        (!skipping && line_len <= limit).then(|| buffered[..lf + 1].to_vec());
                    self.start += line_len;
                    return Ok(match line {
                        Some(line) => Input::Line(line),
                        None => Input::TooLong,
                    });
                }
                None if buffered.len() >= limit => {
                    // Not a line we will keep: drop what we have and look for its end.
                    skipping = true;
                    self.start = self.end;
                }
                None => {}
            }
            match self.fill(shutdown).await? {
                Some(input) => return Ok(input),
                None => continue,
            }
        }
    }

    /// Flushes, then reads more input. `None` means bytes arrived.
    async fn fill(&mut self, shutdown: Option<&CancellationToken>) -> io::Result<Option<Input>> {
        self.flush().await?;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // read_line drops a partial line once it reaches the limit, and every limit is far
        // below the buffer size, so there is always room here.
        let idle = self.idle;
        let read = tokio::time::timeout(idle, self.stream.read(&mut self.buf[self.end..]));
        let result = match shutdown {
            Some(token) => tokio::select! {
                biased;
                _ = token.cancelled() => return Ok(Some(Input::Shutdown)),
                result = read => result,
            },
            None => read.await,
        };
        match result {
            Err(_) => Ok(Some(Input::Timeout)),
            Ok(Ok(0)) => Ok(Some(Input::Eof)),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(None)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// Flushes and closes the write side.
    pub(crate) async fn close(&mut self) {
        if self.flush().await.is_ok() {
            let _ = tokio::time::timeout(self.idle, self.stream.shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_are_cut_and_long_lines_skipped() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut conn = Connection::new(server, Duration::from_secs(5));
        let mut client = client;
        let long = vec![b'x'; 5000];
        let mut input = b"CAPA\r\nSTAT\r\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\r\nNOOP\r\n");
        client.write_all(&input).await.expect("write");
        drop(client);
        assert_eq!(
            conn.read_line(255, None).await.expect("read"),
            Input::Line(b"CAPA\r\n".to_vec())
        );
        assert_eq!(
            conn.read_line(255, None).await.expect("read"),
            Input::Line(b"STAT\r\n".to_vec())
        );
        assert_eq!(
            conn.read_line(255, None).await.expect("read"),
            Input::TooLong
        );
        assert_eq!(
            conn.read_line(255, None).await.expect("read"),
            Input::Line(b"NOOP\r\n".to_vec())
        );
        assert_eq!(conn.read_line(255, None).await.expect("read"), Input::Eof);
    }
}
