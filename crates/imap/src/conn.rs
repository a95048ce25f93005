//! The byte stream of one connection (plain TCP or TLS) with a bounded read buffer, and the
//! framing of client commands into lines and literals (RFC 9051 §2.2, §4.3; RFC 7888 LITERAL+).
//!
//! What it keeps true: the read buffer never holds more than one line of `MAX_LINE` octets plus
//! one read chunk; a literal is read only after its size was accepted by the caller; reads are
//! cancel-safe (bytes are moved into the buffer only after a read returns), so a session may
//! `select!` between input, store notifications and shutdown without losing bytes.
//!
//! COMPRESS=DEFLATE (RFC 4978) lives here too: once a session turns it on, every octet in both
//! directions is raw deflate (RFC 1951, no zlib header) above the plain or TLS stream, so with
//! TLS the compression is inside it. Each flush of responses ends with a sync flush (RFC 4978
//! §4: the client must never wait for data the server holds back). The deflate state (about
//! 300 KB with miniz_oxide) is allocated only when COMPRESS succeeds, so idle connections stay
//! small; inflated input is bounded per read like plain input, so a deflate bomb cannot fill
//! memory.

use crate::response::Out;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
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

/// The first read after the client was quiet: commands are short. A read that fills it (a
/// literal, a pipelined batch) makes the next one `READ_CHUNK`. While a connection waits for
/// its client with nothing buffered it holds no read buffer at all (`Io::fill`): 10,000 idle
/// clients holding even this much would be 5 MB.
const SMALL_READ: usize = 512;

/// A read buffer above this is given back to the allocator once drained, so one large command
/// does not stay with a connection that then idles for hours. (The output buffer is given back
/// after every flush, see `Io::flush`.)
const KEEP_CAPACITY: usize = 4 * 1024;

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

impl Stream {
    /// Ready when a read would make progress or fail: bytes or end of stream on the socket,
    /// or (TLS) plaintext rustls already decrypted, which a socket wait would never see.
    /// Spurious readiness is harmless (the read that follows waits properly).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(s) => s.poll_read_ready(cx),
            Stream::Tls(s) => {
                let (tcp, tls) = s.get_ref();
                if tls.wants_read() {
                    tcp.poll_read_ready(cx)
                } else {
                    // Buffered plaintext, or the client's close_notify: the read answers now.
                    Poll::Ready(Ok(()))
                }
            }
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
    /// RFC 4978 state, present once COMPRESS DEFLATE succeeded (boxed: one pointer otherwise).
    deflate: Option<Box<Deflate>>,
    /// The last read filled the space it was given: more is probably waiting.
    busy: bool,
}

/// Bound on compressed input read ahead of what inflating has consumed.
const MAX_PENDING: usize = 4 * READ_CHUNK;

/// Both directions of a compressed connection (RFC 4978 §4).
struct Deflate {
    inflate: Decompress,
    deflate: Compress,
    /// Compressed octets read from the socket and not yet inflated.
    pending: Vec<u8>,
    /// The client ended its deflate stream (a final block): nothing may follow.
    ended: bool,
    /// The last inflate filled its output: the inflater may hold more without new input.
    more: bool,
}

impl Deflate {
    fn new(already_read: Vec<u8>) -> Self {
        Deflate {
            // `false`: raw deflate, no zlib header (RFC 4978 §4 refers to RFC 1951).
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            pending: already_read,
            ended: false,
            more: false,
        }
    }

    /// Inflates pending input into `into`, at most `READ_CHUNK` octets per call so that a small
    /// compressed input cannot expand past the caller's bounds. Returns the octets added.
    fn inflate_into(&mut self, into: &mut Vec<u8>) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let mut out = [0u8; READ_CHUNK];
        let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
        let status = self
            .inflate
            .decompress(&self.pending, &mut out, FlushDecompress::None)
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad deflate data from client: {e}"),
                )
            })?;
        // Both deltas are bounded by the slice lengths, which fit in usize.
        let consumed = (self.inflate.total_in() - in_before) as usize;
        let produced = (self.inflate.total_out() - out_before) as usize;
        self.pending.drain(..consumed.min(self.pending.len()));
        into.extend_from_slice(&out[..produced]);
        self.more = produced == out.len();
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok(produced)
    }

    /// Compresses `data` and ends with a sync flush, so the client can inflate every response
    /// it was sent without waiting for more (RFC 4978 §4).
    fn deflate_sync(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut wire = Vec::with_capacity(data.len() / 2 + 64);
        let mut consumed = 0usize;
        loop {
            if wire.capacity() - wire.len() < 64 {
                wire.reserve(wire.capacity().max(1024));
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(&data[consumed..], &mut wire, FlushCompress::Sync)
                .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
            consumed += (self.deflate.total_in() - before) as usize;
            // The flush is complete once all input is taken and the output did not fill up.
            if consumed >= data.len() && wire.len() < wire.capacity() {
                return Ok(wire);
            }
        }
    }
}

impl Io {
    pub fn new(stream: Stream, peer: SocketAddr) -> Self {
        Io {
            stream,
            buf: Vec::new(),
            peer,
            out: Out::default(),
            deflate: None,
            busy: false,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Turns on COMPRESS=DEFLATE for everything after the response already flushed (RFC 4978
    /// §3: compression starts right after the tagged OK). Octets the client sent after its
    /// COMPRESS command are already compressed, so they are inflated too.
    pub fn start_compression(&mut self) {
        let already_read = std::mem::take(&mut self.buf);
        self.deflate = Some(Box::new(Deflate::new(already_read)));
    }

    /// Reads more bytes into the buffer; returns 0 at end of stream. Cancel-safe: the only
    /// await is the socket read, and its bytes are stored before anything else can happen.
    async fn fill(&mut self) -> io::Result<usize> {
        if let Some(d) = self.deflate.as_mut() {
            loop {
                if !d.pending.is_empty() || d.ended || d.more {
                    let n = d.inflate_into(&mut self.buf)?;
                    if n > 0 {
                        return Ok(n);
                    }
                    if d.ended {
                        return Ok(0);
                    }
                }
                // Inflating made no progress with everything pending: it needs more input.
                if d.pending.len() > MAX_PENDING {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "deflate input does not inflate",
                    ));
                }
                // Straight into `pending`'s spare room: a buffer on the stack here would live
                // in the session's future, so in every idle connection's memory.
                d.pending.reserve(READ_CHUNK);
                let n = self.stream.read_buf(&mut d.pending).await?;
                if n == 0 {
                    return Ok(0);
                }
            }
        }
        // Nothing buffered and nothing known to be waiting: wait for the client without a
        // buffer (an IDLE client waits up to 30 minutes), and allocate one once it sent data.
        if self.buf.is_empty() && !self.busy {
            self.buf = Vec::new();
            std::future::poll_fn(|cx| self.stream.poll_read_ready(cx)).await?;
        }
        // Straight into the buffer's spare room: no chunk on the task's stack (a future keeps
        // such an array for as long as the read waits, i.e. the whole time a client idles).
        let want = if self.busy { READ_CHUNK } else { SMALL_READ };
        self.buf.reserve(want);
        let n = self.stream.read_buf(&mut self.buf).await?;
        self.busy = n >= want;
        Ok(n)
    }

    /// Gives a large, drained read buffer back (see `KEEP_CAPACITY`).
    fn release_if_drained(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
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
                self.release_if_drained();
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
                self.release_if_drained();
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
            let compressed = match self.deflate.as_mut() {
                Some(d) => Some(d.deflate_sync(&data)?),
                None => None,
            };
            let wire = compressed.as_deref().unwrap_or(&data);
            tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(wire))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            // `data` is dropped rather than kept for the next response: after a flush the
            // session usually waits for its client (for up to 30 minutes in IDLE), and an
            // allocation per response costs less than ~1 KiB held by every idle connection.
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
