//! The byte stream of one connection (plain TCP or TLS) with a bounded read buffer, and the
//! framing of client commands into lines and literals (RFC 9051 §2.2, §4.3; RFC 7888 LITERAL+).
//!
//! What it keeps true: the read buffer never holds more than one line of `MAX_LINE` octets plus
//! one read chunk; a literal is read only after its size was accepted by the caller; reads are
//! cancel-safe (bytes are moved into the buffer only after a read returns), so a session may
//! `select!` between input, store notifications and shutdown without losing bytes.

use crate::response::Out;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// RFC 7162 §4 asks servers to accept command lines of at least 8192 octets; long UID sets
/// from real clients exceed that, so a line (between literals) may be 64 KiB.
pub const MAX_LINE: usize = 64 * 1024;

const READ_CHUNK: usize = 16 * 1024;

/// A client that reads nothing for this long while we write to it is dropped, so a stalled
/// reader cannot hold its session (and the data it has fetched) forever.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transient state while STARTTLS swaps the stream.
    Closed,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// A line read from the client.
pub enum Line {
    /// The line including its CRLF (or bare LF).
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

/// The connection and the responses waiting to be written.
pub struct Io {
    pub stream: Stream,
    buf: Vec<u8>,
    pub peer: SocketAddr,
    pub out: Out,
}

impl Io {
    pub fn new(stream: Stream, peer: SocketAddr) -> Self {
        Io {
            stream,
            buf: Vec::new(),
            peer,
            out: Out::default(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Reads more bytes into the buffer; returns 0 at end of stream. Cancel-safe.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one line, bounded by `MAX_LINE`. Cancel-safe.
    pub async fn read_line(&mut self) -> io::Result<Line> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos + 1;
                if end > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                let line: Vec<u8> = self.buf.drain(..end).collect();
                return Ok(Line::Complete(line));
            }
            scanned = self.buf.len();
            if scanned > MAX_LINE {
                return Ok(Line::TooLong);
            }
            if self.fill().await? == 0 {
                return Ok(Line::Eof);
            }
        }
    }

    /// Reads exactly `n` octets of literal data (the caller bounded `n`).
    pub async fn read_literal(&mut self, n: usize, into: &mut Vec<u8>) -> io::Result<bool> {
        let mut remaining = n;
        loop {
            let take = remaining.min(self.buf.len());
            into.extend(self.buf.drain(..take));
            remaining -= take;
            if remaining == 0 {
                return Ok(true);
            }
            if self.fill().await? == 0 {
                return Ok(false);
            }
        }
    }

    /// RFC 9051 §6.2.1: bytes pipelined after STARTTLS are discarded before the handshake.
    pub fn discard_buffered(&mut self) {
        self.buf.clear();
    }

    /// Writes everything in `out` to the client.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.buf.is_empty() {
            let data = std::mem::take(&mut self.out.buf);
            tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(&data))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            let mut data = data;
            data.clear();
            self.out.buf = data;
        }
        self.stream.flush().await
    }

    /// Flushes when the pending output is large, so a big FETCH streams instead of piling up.
    pub async fn flush_if_large(&mut self) -> io::Result<()> {
        if self.out.buf.len() >= 256 * 1024 {
            self.flush().await
        } else {
            Ok(())
        }
    }
}

/// A literal announced at the end of a line: `{n}`, `{n+}` (RFC 7888) or `~{n}` (RFC 3516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub length: u64,
    pub sync: bool,
}

/// Finds a literal announcement at the end of `line` (which ends in CRLF or LF).
pub fn literal_announcement(line: &[u8]) -> Option<Announcement> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let mut sync = true;
    if let Some(d) = digits
        .strip_suffix(b"+")
        .or_else(|| digits.strip_suffix(b"-"))
    {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Announcement { length, sync })
}

/// The tag of a command line if it is a valid tag (RFC 9051 §9 `tag`), for error replies.
pub fn line_tag(line: &[u8]) -> Option<String> {
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    let tag = &line[..end];
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag.iter().all(|&b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
        });
    ok.then(|| String::from_utf8_lossy(tag).into_owned())
}

/// The command name (second token) of a command line, uppercased.
pub fn line_command(line: &[u8]) -> String {
    let mut parts = line
        .split(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .filter(|p| !p.is_empty());
    parts.next();
    parts
        .next()
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements() {
        assert_eq!(
            literal_announcement(b"a APPEND x {12}\r\n"),
            Some(Announcement {
                length: 12,
                sync: true
            })
        );
        assert_eq!(
            literal_announcement(b"a APPEND x {12+}\r\n"),
            Some(Announcement {
                length: 12,
                sync: false
            })
        );
        assert_eq!(
            literal_announcement(b"a APPEND x ~{3}\r\n"),
            Some(Announcement {
                length: 3,
                sync: true
            })
        );
        assert_eq!(literal_announcement(b"a LOGIN x {}\r\n"), None);
        assert_eq!(literal_announcement(b"a LOGIN x {1a}\r\n"), None);
        assert_eq!(literal_announcement(b"a NOOP\r\n"), None);
        assert_eq!(
            literal_announcement(b"a X {99999999999999999999}\r\n"),
            None
        );
    }

    #[test]
    fn tags_and_commands() {
        assert_eq!(line_tag(b"a1 NOOP\r\n").as_deref(), Some("a1"));
        assert_eq!(line_tag(b"* NOOP\r\n"), None);
        assert_eq!(line_tag(b"\r\n"), None);
        assert_eq!(line_command(b"a1 append INBOX {3}\r\n"), "APPEND");
        assert_eq!(line_command(b"a1"), "");
    }
}
