//! Mailbox names between the wire and the store: modified UTF-7 (RFC 3501 §5.1.3) unless the
//! client enabled UTF8=ACCEPT (RFC 6855 §3), INBOX case-insensitive (RFC 9051 §5.1), and the
//! `/` hierarchy delimiter.
//!
//! What it keeps true: the store only ever sees UTF-8 names without a trailing delimiter,
//! empty levels or control characters.

use crate::done::Done;
use congvu_core::folder::canonical_folder_name;
use congvu_wire::imap_utf7;
use imap_codec::imap_types::mailbox::Mailbox;

/// Longest folder name we accept, in octets of UTF-8.
pub const MAX_NAME: usize = 512;

/// Decodes a wire mailbox name into the store's UTF-8 name.
pub fn from_wire(mailbox: &Mailbox<'_>, utf8: bool) -> Result<String, Done> {
    let raw: &[u8] = match mailbox {
        Mailbox::Inbox => return Ok("INBOX".to_string()),
        Mailbox::Other(other) => other.inner().as_ref(),
    };
    decode_bytes(raw, utf8)
}

/// Decodes raw name bytes (also used for LIST patterns).
pub fn decode_bytes(raw: &[u8], utf8: bool) -> Result<String, Done> {
    let name = if raw.is_ascii() && !utf8 {
        imap_utf7::decode(raw).map_err(|e| Done::bad(format!("{e}")))?
    } else if !raw.is_ascii() {
        // 8-bit names are UTF-8 (RFC 6855); accepted even before ENABLE, as many clients send them.
        String::from_utf8(raw.to_vec()).map_err(|_| Done::bad("mailbox name is not valid UTF-8"))?
    } else {
        String::from_utf8_lossy(raw).into_owned()
    };
    if name.len() > MAX_NAME {
        return Err(Done::no(Some("LIMIT"), "mailbox name too long"));
    }
    if name.chars().any(char::is_control) {
        return Err(Done::bad("mailbox name contains control characters"));
    }
    Ok(canonical_folder_name(&name))
}

/// Checks a name for CREATE/RENAME: no empty hierarchy level (RFC 9051 §6.3.4), trailing
/// delimiter removed.
pub fn for_create(name: &str) -> Result<String, Done> {
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if trimmed.is_empty() || trimmed.split('/').any(|level| level.trim().is_empty()) {
        return Err(Done::no(
            Some("CANNOT"),
            "mailbox name has an empty hierarchy level",
        ));
    }
    Ok(canonical_folder_name(trimmed))
}

/// Encodes a store name for the wire.
pub fn to_wire(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_string()
    } else {
        imap_utf7::encode(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_names() {
        assert_eq!(for_create("Công văn/").unwrap(), "Công văn");
        assert!(for_create("a//b").is_err());
        assert!(for_create("/").is_err());
        assert_eq!(for_create("inbox").unwrap(), "INBOX");
    }

    #[test]
    fn decode_wire_names() {
        assert_eq!(
            decode_bytes(b"C&APQ-ng v&AQM-n", false).unwrap(),
            "Công văn"
        );
        assert_eq!(decode_bytes("Công".as_bytes(), false).unwrap(), "Công");
        assert_eq!(decode_bytes(b"A&B", true).unwrap(), "A&B");
        assert!(decode_bytes(b"A&B", false).is_err());
        assert_eq!(to_wire("Công văn", false), "C&APQ-ng v&AQM-n");
    }
}
