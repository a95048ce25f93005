//! SASL PLAIN responses (RFC 4616 §2) as POP3 carries them: base64 (RFC 4648 §4) on one line
//! (RFC 5034 §4).
//!
//! Pure and total: any input yields credentials or a [`SaslError`] whose text the client sees.
//! Base64 is decoded strictly (padding required, no characters outside the alphabet), so two
//! different lines never decode to the same credentials.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainCredentials {
    /// The identity to act as; empty means the same as `login`.
    pub(crate) authzid: String,
    pub(crate) login: String,
    pub(crate) password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslError {
    BadBase64,
    Malformed,
}

impl SaslError {
    pub(crate) fn sentence(self) -> &'static str {
        match self {
            SaslError::BadBase64 => "The authentication data is not valid base64.",
            SaslError::Malformed => {
                "The PLAIN response must be authorization identity, NUL, login, NUL, password."
            }
        }
    }
}

/// Decodes and splits a PLAIN response. `=` alone is the empty response (RFC 5034 §4).
pub(crate) fn decode_plain(line: &str) -> Result<PlainCredentials, SaslError> {
    let raw = if line == "=" {
        Vec::new()
    } else {
        decode_base64(line).ok_or(SaslError::BadBase64)?
    };
    let mut parts = raw.split(|b| *b == 0);
    let (Some(authzid), Some(login), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed);
    let credentials = PlainCredentials {
        authzid: text(authzid)?,
        login: text(login)?,
        password: text(password)?,
    };
    if credentials.login.is_empty() || credentials.password.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(credentials)
}

/// Strict RFC 4648 §4 base64: length a multiple of 4, `=` only at the end.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (i, quad) in bytes.chunks_exact(4).enumerate() {
        let padding = quad.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != quads) {
            return None;
        }
        let mut acc = 0u32;
        for c in &quad[..4 - padding] {
            acc = (acc << 6) | value(*c)?;
        }
        acc <<= 6 * padding as u32;
        let decoded = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_strictly() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbA=="), Some(b"hell".to_vec()));
        assert_eq!(decode_base64("aGVs"), Some(b"hel".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), None);
        assert_eq!(decode_base64("aG=sbG8="), None);
        assert_eq!(decode_base64("aGVs=GVs"), None);
        assert_eq!(decode_base64("a==="), None);
        assert_eq!(decode_base64("aGV*"), None);
        assert_eq!(decode_base64(""), None);
    }

    #[test]
    fn plain_splits_into_three_parts() {
        // "\0an@tinh.gov.vn\0Mật-khẩu-1"
        let line = "AGFuQHRpbmguZ292LnZuAE3huq10LWto4bqpdS0x";
        assert_eq!(
            decode_plain(line),
            Ok(PlainCredentials {
                authzid: String::new(),
                login: "an@tinh.gov.vn".into(),
                password: "Mật-khẩu-1".into(),
            })
        );
        assert_eq!(decode_plain("="), Err(SaslError::Malformed));
        // "a\0b" has two parts only.
        assert_eq!(decode_plain("YQBi"), Err(SaslError::Malformed));
        assert_eq!(decode_plain("!!!!"), Err(SaslError::BadBase64));
    }
}
