//! SMTP reply formatting (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463).
//!
//! Keeps true: every reply line is `code SP|- [enhanced SP] text CRLF`, the last line uses a
//! space and the others a hyphen (§4.2.1), and no CR or LF from the text reaches the wire
//! except as a line break of a multi-line reply.

/// Appends one reply, multi-line when `text` contains `\n`. `enhanced` may be empty
/// (greeting, 354, which carry no enhanced code).
pub(crate) fn write_reply(out: &mut Vec<u8>, code: u16, enhanced: &str, text: &str) {
    let code = code.clamp(200, 599);
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let sep = if lines.peek().is_some() { '-' } else { ' ' };
        out.extend_from_slice(code.to_string().as_bytes());
        out.push(sep as u8);
        if !enhanced.is_empty() {
            out.extend_from_slice(enhanced.as_bytes());
            out.push(b' ');
        }
        out.extend(line.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }
}

/// A reply decided by a phase, written later by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub(crate) fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    pub(crate) fn is_error(&self) -> bool {
        self.code >= 400
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        write_reply(out, self.code, self.enhanced, &self.text);
    }
}

impl From<congvu_core::Reply> for Reply {
    fn from(r: congvu_core::Reply) -> Self {
        Reply {
            code: r.code,
            enhanced: r.enhanced,
            text: r.text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(code: u16, enhanced: &str, text: &str) -> String {
        let mut out = Vec::new();
        write_reply(&mut out, code, enhanced, text);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn single_line_with_enhanced_code() {
        assert_eq!(render(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n");
    }

    #[test]
    fn multi_line_uses_hyphens_then_space() {
        assert_eq!(
            render(550, "5.7.1", "first\nsecond\nthird"),
            "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n"
        );
    }

    #[test]
    fn no_enhanced_code_and_no_injected_cr() {
        assert_eq!(
            render(354, "", "End data with <CR><LF>.<CR><LF>\r"),
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        );
    }
}
