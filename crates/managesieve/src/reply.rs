//! Responses (RFC 5804 §1.2, §4): `OK`/`NO`/`BYE`, an optional response code in
//! parentheses, and a human-readable quoted string.

/// A quoted string; CR and LF cannot appear in one, so they become spaces, and `"`/`\` are
/// escaped.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string sent as a literal (RFC 5804 §4 literal-s2c), for script contents.
pub fn literal(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{{{}}}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}

pub fn ok(text: &str) -> String {
    format!("OK {}\r\n", quoted(text))
}

pub fn ok_code(code: &str, text: &str) -> String {
    format!("OK ({code}) {}\r\n", quoted(text))
}

pub fn no(text: &str) -> String {
    format!("NO {}\r\n", quoted(text))
}

pub fn no_code(code: &str, text: &str) -> String {
    format!("NO ({code}) {}\r\n", quoted(text))
}

pub fn bye(text: &str) -> String {
    format!("BYE {}\r\n", quoted(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quoted("a\"b\\c\r\nd"), "\"a\\\"b\\\\c  d\"");
        assert_eq!(no_code("ACTIVE", "x"), "NO (ACTIVE) \"x\"\r\n");
        assert_eq!(literal(b"keep;"), b"{5}\r\nkeep;".to_vec());
    }
}
