//! Encoding of server responses (RFC 9051 §7): strings, lists and status lines, written into a
//! byte buffer that the session flushes.
//!
//! What it keeps true: every string a client sees is either a quoted string whose octets are
//! legal there (no CR, LF, NUL, `"`/`\` escaped, 8-bit only when UTF8=ACCEPT is enabled) or a
//! literal with its exact length, so no stored value can inject a response line.

use std::fmt::Write as _;

/// The status of a tagged or untagged status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// Bytes waiting to be written to the client.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    /// RFC 6855 §3: with UTF8=ACCEPT enabled, quoted strings may carry UTF-8.
    pub utf8: bool,
    /// RFC 7162 §3.1: once CONDSTORE is enabled, every FETCH carrying flag changes also
    /// carries MODSEQ (and UID).
    pub condstore: bool,
    /// RFC 7162 §3.2.10: once QRESYNC is enabled, expunges are reported as VANISHED.
    pub qresync: bool,
    /// RFC 9051 §6.3.1: once IMAP4rev2 is enabled, SEARCH answers with ESEARCH and no
    /// RECENT is sent.
    pub rev2: bool,
}

impl Out {
    pub fn text(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// One untagged line: `* <line>\r\n`.
    pub fn untagged(&mut self, line: &str) {
        self.text("* ");
        self.text(line);
        self.text("\r\n");
    }

    /// A tagged (or, with tag `*`, untagged) status line. `code` is written inside brackets.
    pub fn status(&mut self, tag: &str, status: Status, code: Option<&str>, text: &str) {
        let mut line = String::with_capacity(tag.len() + text.len() + 16);
        let _ = write!(line, "{tag} {}", status.as_str());
        if let Some(code) = code {
            let _ = write!(line, " [{code}]");
        }
        line.push(' ');
        line.push_str(&sanitize_text(text));
        self.text(&line);
        self.text("\r\n");
    }

    /// An `nstring`: NIL, a quoted string, or a literal when quoting is not possible.
    pub fn nstring(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.text("NIL"),
            Some(v) => self.string(v),
        }
    }

    /// An IMAP `string`, quoted when that is legal, otherwise a literal.
    pub fn string(&mut self, value: &[u8]) {
        if can_quote(value, self.utf8) && value.len() <= 1024 {
            self.buf.push(b'"');
            for &b in value {
                if b == b'"' || b == b'\\' {
                    self.buf.push(b'\\');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.literal(value);
        }
    }

    pub fn literal(&mut self, value: &[u8]) {
        let _ = write!(self, "{{{}}}\r\n", value.len());
        self.buf.extend_from_slice(value);
    }

    /// A parenthesised list of strings, or NIL when empty.
    pub fn string_list_or_nil(&mut self, values: &[String]) {
        if values.is_empty() {
            self.text("NIL");
            return;
        }
        self.text("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text(" ");
            }
            self.string(v.as_bytes());
        }
        self.text(")");
    }
}

impl std::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn can_quote(value: &[u8], utf8: bool) -> bool {
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return false;
    }
    if value.is_ascii() {
        return true;
    }
    utf8 && std::str::from_utf8(value).is_ok()
}

/// Human-readable text of a status line: one line of printable ASCII.
fn sanitize_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "done".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_quote_or_literal() {
        let mut out = Out::default();
        out.string(b"a \"b\"\\");
        out.text(" ");
        out.string(b"line\r\nbreak");
        out.text(" ");
        out.string("Thư".as_bytes());
        assert_eq!(
            out.buf,
            b"\"a \\\"b\\\"\\\\\" {11}\r\nline\r\nbreak {4}\r\nTh\xc6\xb0".to_vec()
        );
        let mut out = Out {
            utf8: true,
            ..Out::default()
        };
        out.string("Thư".as_bytes());
        assert_eq!(out.buf, "\"Thư\"".as_bytes());
    }

    #[test]
    fn status_line_cannot_inject() {
        let mut out = Out::default();
        out.status("a1", Status::No, Some("TRYCREATE"), "no\r\n* BYE");
        assert_eq!(out.buf, b"a1 NO [TRYCREATE] no  * BYE\r\n".to_vec());
    }
}
