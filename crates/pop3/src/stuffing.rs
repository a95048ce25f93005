//! Multi-line response bodies (RFC 1939 §3): every line ends in CRLF, a line that begins with
//! "." gets one more "." in front (byte-stuffing), and the body ends with ".CRLF".
//!
//! Pure functions over bytes. What they keep true: whatever the stored message holds (bare
//! LF, a last line without its line end, lines of dots), the client can never see the end of
//! the response before the end of the message, and a message stored with CRLF line ends comes
//! back byte for byte once the client removes the stuffing.

/// Appends `lines` to `out` stuffed and with CRLF line ends. A last line without a line end
/// gets one; a bare LF becomes CRLF.
pub(crate) fn stuff_lines(lines: &[u8], out: &mut Vec<u8>) {
    out.reserve(lines.len() + lines.len() / 64 + 2);
    let mut rest = lines;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(lf) => (&rest[..lf], &rest[lf + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        rest = next;
    }
}

/// The end of the multi-line response.
pub(crate) const TERMINATOR: &[u8] = b".\r\n";

/// The index just past the first LF at or after `at`, or the end of `data`: where a chunk of
/// whole lines ends, so a large message can be sent in pieces.
pub(crate) fn line_boundary_after(data: &[u8], at: usize) -> usize {
    if at >= data.len() {
        return data.len();
    }
    match data[at..].iter().position(|b| *b == b'\n') {
        Some(lf) => at + lf + 1,
        None => data.len(),
    }
}

/// RFC 1939 §7 TOP: the header section, the blank line after it, and the first `body_lines`
/// lines of the body. A message without a blank line is all header and is returned whole.
pub(crate) fn top_part(message: &[u8], body_lines: u64) -> &[u8] {
    let mut pos = 0;
    // Header lines, up to and including the blank line that ends them.
    loop {
        if pos >= message.len() {
            return message;
        }
        let end = line_boundary_after(message, pos);
        let line = &message[pos..end];
        pos = end;
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut remaining = body_lines;
    while remaining > 0 && pos < message.len() {
        pos = line_boundary_after(message, pos);
        remaining -= 1;
    }
    &message[..pos]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        stuff_lines(data, &mut out);
        out
    }

    #[test]
    fn lines_starting_with_a_dot_are_stuffed() {
        assert_eq!(
            stuffed(b"Subject: x\r\n\r\n.\r\n..two\r\n.x\r\nend\r\n"),
            b"Subject: x\r\n\r\n..\r\n...two\r\n..x\r\nend\r\n"
        );
    }

    #[test]
    fn bare_lf_and_a_missing_last_line_end_become_crlf() {
        assert_eq!(stuffed(b"a\nb\r\nc"), b"a\r\nb\r\nc\r\n");
        assert_eq!(stuffed(b""), b"");
        assert_eq!(stuffed(b".\n"), b"..\r\n");
    }

    #[test]
    fn chunks_split_at_line_ends_stuff_the_same_as_the_whole() {
        let data = b"H: v\r\n\r\n.one\r\nplain line\r\n.\r\nlast";
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = line_boundary_after(data, start + 3);
            stuff_lines(&data[start..end], &mut pieces);
            start = end;
        }
        assert_eq!(pieces, stuffed(data));
    }

    #[test]
    fn top_returns_headers_blank_line_and_n_body_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top_part(msg, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top_part(msg, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top_part(msg, 10), msg);
        assert_eq!(top_part(msg, u64::MAX), msg);
        assert_eq!(top_part(b"A: 1\r\nB: 2\r\n", 3), b"A: 1\r\nB: 2\r\n");
        assert_eq!(top_part(b"A: 1\n\nbody\nmore\n", 1), b"A: 1\n\nbody\n");
        assert_eq!(top_part(b"", 1), b"");
    }
}
