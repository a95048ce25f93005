//! Content-transfer decoding for FETCH BINARY (RFC 3516 §4.2): base64 and quoted-printable
//! bodies are returned decoded, 7bit/8bit/binary ones as they are.
//!
//! What it keeps true: decoding is lenient in the way RFC 2045 asks receivers to be (§6.7 for
//! quoted-printable: a malformed `=` sequence is kept literally; §6.8 for base64: characters
//! outside the alphabet are ignored), so a sloppy sender's attachment still opens; an encoding
//! not in RFC 2045 is reported as unknown (the caller answers `NO [UNKNOWN-CTE]`).

/// Decodes `data` sent with the Content-Transfer-Encoding `encoding` (any case). None when
/// the encoding is unknown.
pub fn decode(encoding: &str, data: &[u8]) -> Option<Vec<u8>> {
    match encoding.to_ascii_uppercase().as_str() {
        "" | "7BIT" | "8BIT" | "BINARY" => Some(data.to_vec()),
        "BASE64" => Some(base64(data)),
        "QUOTED-PRINTABLE" => Some(quoted_printable(data)),
        _ => None,
    }
}

fn base64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

fn base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in data {
        if c == b'=' {
            break; // padding: the end of the data
        }
        let Some(v) = base64_value(c) else {
            continue;
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        // Soft line break: "=" then optional trailing whitespace then CRLF or LF.
        let mut j = i + 1;
        while j < data.len() && matches!(data[j], b' ' | b'\t') {
            j += 1;
        }
        if data[j..].starts_with(b"\r\n") {
            i = j + 2;
            continue;
        }
        if data[j..].starts_with(b"\n") {
            i = j + 1;
            continue;
        }
        match (
            data.get(i + 1).and_then(|&h| hex(h)),
            data.get(i + 2).and_then(|&l| hex(l)),
        ) {
            (Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_qp() {
        assert_eq!(
            decode("base64", b"JVBE\r\nRi0x\r\nLjQK").unwrap(),
            b"%PDF-1.4\n"
        );
        assert_eq!(decode("BASE64", b"AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(decode("BASE64", b"QQ==").unwrap(), b"A");
        assert_eq!(
            decode(
                "Quoted-Printable",
                b"K=E1=BA=BF ho=\r\n=E1=BA=A1ch =3D 1 =ZZ"
            )
            .unwrap(),
            "Kế hoạch = 1 =ZZ".as_bytes()
        );
        assert_eq!(decode("7bit", b"x").unwrap(), b"x");
        assert!(decode("x-uuencode", b"x").is_none());
    }
}
