//! DATA (RFC 5321 §4.1.1.4): receive a dot-terminated message.
//!
//! Keeps true:
//! - Only `<CRLF>.<CRLF>` ends the data; the CRLF that precedes the dot belongs to the
//!   message. A bare LF or bare CR never ends or splits a message (SMTP smuggling,
//!   CVE-2023-51766): smtp-proto's `DataReceiver` also ends on `<CRLF>.<CR><CR><LF>` and does
//!   not see a terminator or a stuffed dot on the very first line, so this file has its own
//!   small state machine. A message with any bare CR or LF is read to its real end and then
//!   refused with `550 5.6.2` (as Postfix's `smtpd_forbid_bare_newline`).
//! - Dot-unstuffing per §4.5.2: a line's leading dot is removed.
//! - Above `max_message_size` the rest is read and discarded (never buffered) and the
//!   answer is `552 5.3.4` (RFC 1870 §6.3). Long text lines (§4.5.3.1.6 says 1000 octets)
//!   are tolerated: only the message size bounds memory.

use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::{BodyEnd, Connection};
use super::session::{Session, Step};
use crate::reply::{Reply, write_reply};

/// Where the reader is within the dot-stuffed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DotState {
    /// Just after CRLF (or at the start of the data).
    LineStart,
    /// Inside a line.
    Text,
    /// After a CR inside a line.
    Cr,
    /// After CRLF ".".
    Dot,
    /// After CRLF "." CR.
    DotCr,
}

/// Turns the dot-stuffed DATA stream into message bytes.
pub(crate) struct DotReader {
    state: DotState,
    /// Message octets seen so far (after unstuffing), kept or not.
    size: u64,
    limit: u64,
    pub(crate) oversized: bool,
    pub(crate) bare_newline: bool,
}

impl DotReader {
    pub(crate) fn new(limit: u64) -> Self {
        DotReader {
            state: DotState::LineStart,
            size: 0,
            limit,
            oversized: false,
            bare_newline: false,
        }
    }

    /// Reads `input`, appending message bytes to `body` while under the limit. Returns the
    /// number of input bytes used and whether the terminating `<CRLF>.<CRLF>` was seen (the
    /// bytes after it are left unused: they are the next command).
    pub(crate) fn feed(&mut self, input: &[u8], body: &mut Vec<u8>) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                DotState::Text => {
                    let rest = &input[i..];
                    let run = rest
                        .iter()
                        .position(|&b| b == b'\r' || b == b'\n')
                        .unwrap_or(rest.len());
                    self.emit(&rest[..run], body);
                    i += run;
                    if let Some(&b) = input.get(i) {
                        i += 1;
                        if b == b'\r' {
                            self.state = DotState::Cr;
                        } else {
                            // A bare LF: data, never a line start, so "\n.\n" ends nothing.
                            self.bare_newline = true;
                            self.emit(b"\n", body);
                        }
                    }
                }
                DotState::Cr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.emit(b"\r\n", body);
                        self.state = DotState::LineStart;
                    } else {
                        self.bare_newline = true;
                        self.emit(b"\r", body);
                        self.state = DotState::Text;
                    }
                }
                DotState::LineStart => {
                    if input[i] == b'.' {
                        i += 1;
                        self.state = DotState::Dot;
                    } else {
                        self.state = DotState::Text;
                    }
                }
                DotState::Dot => {
                    if input[i] == b'\r' {
                        i += 1;
                        self.state = DotState::DotCr;
                    } else {
                        // RFC 5321 §4.5.2: the leading dot was stuffing; it is dropped.
                        self.state = DotState::Text;
                    }
                }
                DotState::DotCr => {
                    if input[i] == b'\n' {
                        return (i + 1, true);
                    }
                    // "." CR then not LF: a bare CR on a line holding a dot.
                    self.bare_newline = true;
                    self.emit(b"\r", body);
                    self.state = DotState::Text;
                }
            }
        }
        (i, false)
    }

    fn emit(&mut self, bytes: &[u8], body: &mut Vec<u8>) {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            if !self.oversized {
                self.oversized = true;
                body.clear();
                body.shrink_to(0);
            }
        } else {
            body.extend_from_slice(bytes);
        }
    }
}

impl Session<'_> {
    pub(crate) async fn on_data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Connection<S>,
    ) -> Step {
        let Some(tx) = self.tx.take() else {
            return Step::Reply(Reply::new(503, "5.5.1", "Need MAIL command first"));
        };
        if tx.bdat.is_some() {
            self.tx = Some(tx);
            return Step::Reply(Reply::new(503, "5.5.1", "DATA not allowed during BDAT"));
        }
        if tx.rcpts.is_empty() {
            self.tx = Some(tx);
            return Step::Reply(Reply::new(554, "5.5.1", "No valid recipients"));
        }
        let limit = self.ctx.config.max_message_size;
        let mut message = self.start_message(&tx, 16 * 1024);
        write_reply(&mut conn.out, 354, "", "End data with <CR><LF>.<CR><LF>");
        let mut reader = DotReader::new(limit);
        let mut body = std::mem::take(&mut message.raw);
        let end = conn.read_body(|input| reader.feed(input, &mut body)).await;
        message.raw = body;
        match end {
            Ok(BodyEnd::Done) => {}
            Ok(BodyEnd::Timeout) => return Step::Timeout,
            Ok(BodyEnd::Eof) | Err(_) => return Step::Close,
        }
        // The transaction ends here whatever the outcome (RFC 5321 §4.1.1.4).
        if reader.oversized {
            return Step::Reply(Reply::new(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            ));
        }
        if reader.bare_newline {
            return Step::Reply(Reply::new(
                550,
                "5.6.2",
                "Bare LF/CR not allowed; lines must end in CRLF",
            ));
        }
        Step::Reply(self.deliver(&tx, message).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns (message, bytes used, finished, reader).
    fn read(input: &[u8], step: usize, limit: u64) -> (Vec<u8>, usize, bool, DotReader) {
        let mut reader = DotReader::new(limit);
        let mut body = Vec::new();
        let mut used = 0;
        while used < input.len() {
            let end = (used + step).min(input.len());
            let (n, done) = reader.feed(&input[used..end], &mut body);
            used += n;
            if done {
                return (body, used, true, reader);
            }
        }
        (body, used, false, reader)
    }

    #[test]
    fn ends_at_crlf_dot_crlf_in_any_split() {
        let input = b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
        for step in 1..input.len() {
            let (body, used, done, reader) = read(input, step, 1 << 20);
            assert!(done, "step {step}");
            assert_eq!(body, b"Subject: x\r\n\r\nhello\r\n");
            assert_eq!(&input[used..], b"QUIT\r\n");
            assert!(!reader.bare_newline);
        }
    }

    #[test]
    fn unstuffs_leading_dots_including_first_line() {
        let (body, _, done, _) = read(b"..first\r\nx\r\n..second\r\n.\r\n", 7, 1 << 20);
        assert!(done);
        assert_eq!(body, b".first\r\nx\r\n.second\r\n");
    }

    #[test]
    fn empty_message_is_just_the_dot() {
        let (body, used, done, _) = read(b".\r\n", 1, 1 << 20);
        assert!(done);
        assert_eq!(used, 3);
        assert!(body.is_empty());
    }

    #[test]
    fn bare_lf_and_bare_cr_terminators_do_not_end_data() {
        for smuggle in [
            &b"a\r\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\n.\r\nMAIL",
            b"a\n.\nMAIL",
            b"a\r\n.\r\r\nMAIL",
            b"a\r.\r\nMAIL",
        ] {
            let (_, _, done, reader) = read(smuggle, 3, 1 << 20);
            assert!(!done, "{:?}", String::from_utf8_lossy(smuggle));
            assert!(
                reader.bare_newline,
                "{:?}",
                String::from_utf8_lossy(smuggle)
            );
        }
    }

    #[test]
    fn oversized_message_is_discarded_but_read_to_its_end() {
        let mut input = b"x".repeat(1000);
        input.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
        let (body, used, done, reader) = read(&input, 64, 100);
        assert!(done);
        assert!(reader.oversized);
        assert!(body.is_empty());
        assert_eq!(&input[used..], b"NOOP\r\n");
    }
}
