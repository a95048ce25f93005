//! Distinguished names (RFC 4514): parsing what clients send, writing ours, comparing both.
//!
//! Comparison is by attribute type (case-insensitive) and value (NFC, lowercase, spaces
//! collapsed), which is what the attributes in our names (dc, ou, mail, uid) need. Values in
//! the `#hex` BER form and multi-valued RDNs (`a=1+b=2`) are not used by this directory; they
//! parse (the `+` stays part of the value) and then simply match nothing.

use crate::text::Mode;

/// A parsed DN, most specific RDN first, each `(type, value)` in comparison form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn(pub Vec<(String, String)>);

/// Why a DN could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnError(pub String);

/// RFC 4514 §2.3: at most this many RDNs are read; nothing of ours is deeper than 3.
const MAX_RDNS: usize = 64;

impl Dn {
    pub fn parse(text: &str) -> Result<Dn, DnError> {
        let mut rdns = Vec::new();
        if text.trim().is_empty() {
            return Ok(Dn(rdns));
        }
        for rdn in split_unescaped(text, ',')? {
            if rdns.len() == MAX_RDNS {
                return Err(DnError("too many RDNs".into()));
            }
            let (ty, value) = rdn
                .split_once('=')
                .ok_or_else(|| DnError(format!("`{rdn}` is not type=value")))?;
            let ty = ty.trim();
            if ty.is_empty()
                || !ty
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(DnError(format!("`{ty}` is not an attribute type")));
            }
            // Not trimmed before unescaping: a value may end in an escaped space; the comparison
            // form trims and collapses spaces anyway.
            let value = unescape(value)?;
            rdns.push((ty.to_ascii_lowercase(), Mode::Exact.prepare(&value)));
        }
        Ok(Dn(rdns))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `child` under this DN: `type=value,<self>`.
    pub fn child(&self, ty: &str, value: &str) -> Dn {
        let mut rdns = vec![(ty.to_ascii_lowercase(), Mode::Exact.prepare(value))];
        rdns.extend(self.0.iter().cloned());
        Dn(rdns)
    }

    /// Whether `self` is `ancestor` or below it.
    pub fn is_within(&self, ancestor: &Dn) -> bool {
        self.0.len() >= ancestor.0.len() && self.0[self.0.len() - ancestor.0.len()..] == ancestor.0
    }

    /// The DN one level up (the root's parent is the root).
    pub fn parent(&self) -> Dn {
        Dn(self.0.iter().skip(1).cloned().collect())
    }

    /// The first RDN, if any.
    pub fn first(&self) -> Option<(&str, &str)> {
        self.0.first().map(|(t, v)| (t.as_str(), v.as_str()))
    }
}

/// `dc=bacgiang,dc=gov,dc=vn` for `bacgiang.gov.vn`.
pub fn base_for_domain(domain: &str) -> String {
    domain
        .trim()
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .map(|l| format!("dc={}", escape_value(&l.to_ascii_lowercase())))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4514 §2.4: escapes a value for writing in a DN.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Splits at `sep` where it is not escaped with a backslash.
fn split_unescaped(text: &str, sep: char) -> Result<Vec<&str>, DnError> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    if escaped {
        return Err(DnError("the DN ends with a lone backslash".into()));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// RFC 4514 §3: `\` followed by a special character, or by two hex digits (one octet of UTF-8).
fn unescape(value: &str) -> Result<String, DnError> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(next) = chars.next() else {
            return Err(DnError("the DN ends with a lone backslash".into()));
        };
        if let Some(hi) = next.to_digit(16)
            && let Some(lo) = chars.peek().and_then(|c| c.to_digit(16))
        {
            chars.next();
            bytes.push((hi * 16 + lo) as u8);
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8(bytes).map_err(|_| DnError("an escaped value is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let a = Dn::parse("mail=annv@bacgiang.gov.vn,ou=people,dc=bacgiang,dc=gov,dc=vn").unwrap();
        let b =
            Dn::parse("MAIL=AnNV@BacGiang.gov.vn, OU=People , DC=bacgiang,dc=gov,dc=vn").unwrap();
        assert_eq!(a, b);
        let base = Dn::parse(&base_for_domain("bacgiang.gov.vn")).unwrap();
        assert!(a.is_within(&base));
        assert!(!base.is_within(&a));
        assert_eq!(a.parent().parent(), base);
        assert_eq!(a.first(), Some(("mail", "annv@bacgiang.gov.vn")));
        assert!(Dn::parse("").unwrap().is_root());
        assert!(base.is_within(&Dn::default()));
    }

    #[test]
    fn escapes_round_trip() {
        let value = "an+nv, \"x\"; #1 ";
        let dn = format!("mail={},ou=people", escape_value(value));
        assert_eq!(
            Dn::parse(&dn).unwrap().first(),
            Some(("mail", "an+nv, \"x\"; #1"))
        );
        // Hex escapes are UTF-8 octets: \c3\a0 is "à".
        assert_eq!(
            Dn::parse("ou=S\\c3\\a0i").unwrap().first(),
            Some(("ou", "sài"))
        );
        assert_eq!(
            base_for_domain("BacGiang.gov.vn."),
            "dc=bacgiang,dc=gov,dc=vn"
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["nope", "=x", "ou=a\\", "o u=x", "ou=\\ff"] {
            assert!(Dn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
