//! IMAP modified UTF-7 for mailbox names (RFC 3501 §5.1.3), used on the wire unless the client
//! enabled UTF8=ACCEPT (RFC 6855).
//!
//! What it keeps true: `decode(encode(s)) == s` for every string; `decode` refuses everything
//! RFC 3501 forbids (a bare `&` run that is not base64, an encoded printable ASCII character,
//! an encoded `&`, padding bits that are not zero, a non-shortest form such as `&-` twice
//! split), so one folder has exactly one wire name. Nothing here panics on input.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a wire name is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Utf7Error {
    /// An octet outside printable US-ASCII appeared outside a base64 run.
    NotAscii,
    /// A `&` run was not closed by `-`.
    Unterminated,
    /// A base64 run held a character outside the modified base64 alphabet.
    BadBase64,
    /// The decoded UTF-16 was not valid (lone surrogate, odd length, non-zero padding bits).
    BadUtf16,
    /// A base64 run encoded printable ASCII, which RFC 3501 §5.1.3 says must be sent as itself.
    NotShortest,
}

impl std::fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Utf7Error::NotAscii => "8-bit octet in a modified UTF-7 mailbox name",
            Utf7Error::Unterminated => "unterminated '&' sequence in mailbox name",
            Utf7Error::BadBase64 => "invalid modified base64 in mailbox name",
            Utf7Error::BadUtf16 => "invalid UTF-16 in modified UTF-7 mailbox name",
            Utf7Error::NotShortest => "printable ASCII encoded in modified UTF-7 mailbox name",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Utf7Error {}

fn is_direct(c: char) -> bool {
    ('\x20'..='\x7e').contains(&c) && c != '&'
}

/// Encodes a UTF-8 mailbox name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush_base64(&mut pending, &mut out);
            out.push(c);
        } else if c == '&' {
            flush_base64(&mut pending, &mut out);
            out.push_str("&-");
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_base64(&mut pending, &mut out);
    out
}

fn flush_base64(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out.push('-');
    units.clear();
}

fn base64_value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes a modified UTF-7 mailbox name into UTF-8.
pub fn decode(wire: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < wire.len() {
        let c = wire[i];
        if c == b'&' {
            let rest = &wire[i + 1..];
            let close = rest
                .iter()
                .position(|&b| b == b'-')
                .ok_or(Utf7Error::Unterminated)?;
            let run = &rest[..close];
            if run.is_empty() {
                out.push('&');
            } else {
                decode_run(run, &mut out)?;
                // Two base64 runs side by side are one run split in two: not the shortest
                // form, which `encode` would write as a single run (found by fuzzing).
                if wire.get(i + close + 2) == Some(&b'&')
                    && wire.get(i + close + 3).is_some_and(|&b| b != b'-')
                {
                    return Err(Utf7Error::NotShortest);
                }
            }
            i += close + 2;
        } else if (0x20..=0x7e).contains(&c) {
            out.push(char::from(c));
            i += 1;
        } else {
            return Err(Utf7Error::NotAscii);
        }
    }
    Ok(out)
}

fn decode_run(run: &[u8], out: &mut String) -> Result<(), Utf7Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut bytes = Vec::with_capacity(run.len());
    for &c in run {
        let v = base64_value(c).ok_or(Utf7Error::BadBase64)?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    // RFC 4648 §3.5 / RFC 2152: leftover bits must be fewer than 6 and zero.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 || bytes.len() % 2 != 0 {
        return Err(Utf7Error::BadUtf16);
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    let text = String::from_utf16(&units).map_err(|_| Utf7Error::BadUtf16)?;
    if text.chars().any(|c| is_direct(c) || c == '&') {
        return Err(Utf7Error::NotShortest);
    }
    out.push_str(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語"
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Ok(name)
        );
    }

    #[test]
    fn vietnamese_round_trip() {
        for name in [
            "Công văn/2026",
            "Thư đến",
            "Đường phố Hà Nội",
            "A&B",
            "&",
            "plain",
            "😀 emoji",
        ] {
            let wire = encode(name);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire}");
            assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(name));
        }
        assert_eq!(encode("A&B"), "A&-B");
    }

    #[test]
    fn refuses_invalid_forms() {
        assert_eq!(decode(b"&U,BTFw"), Err(Utf7Error::Unterminated));
        assert_eq!(decode("Thư".as_bytes()), Err(Utf7Error::NotAscii));
        assert_eq!(decode(b"&*-"), Err(Utf7Error::BadBase64));
        // "&AGE-" encodes "a", which must be sent directly.
        assert_eq!(decode(b"&AGE-"), Err(Utf7Error::NotShortest));
        // A lone high surrogate.
        assert_eq!(decode(b"&2D0-"), Err(Utf7Error::BadUtf16));
        // Found by the imap_utf7 fuzz target: one run split in two decodes to a name whose
        // wire form is a single run, so it is refused; an encoded "&" after a run is fine.
        assert_eq!(
            decode(b"~peterTFw-/&ZeVnLIqe-&ZeVnqeqe-"),
            Err(Utf7Error::NotShortest)
        );
        assert_eq!(decode(b"&ZeU-&-").as_deref(), Ok("日&"));
        assert_eq!(encode("日&"), "&ZeU-&-");
    }
}
