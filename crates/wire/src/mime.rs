//! Parse a message once, at delivery, into everything IMAP FETCH, SEARCH and SORT need
//! (DESIGN.md "Storage"), so that reads never re-parse the blob.
//!
//! Offsets are absolute byte positions in the stored blob (trace headers included), so
//! `BODY[1.2]` is a slice of the blob, not a re-parse.

use serde::{Deserialize, Serialize};

/// One address of an RFC 9051 §7.5.2 ENVELOPE address list. Group syntax (RFC 5322 §3.4) is
/// kept as IMAP encodes it: a start marker with `host: None` and a group name in `mailbox`,
/// then the members, then an end marker with both `mailbox` and `host` absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// The RFC 9051 §7.5.2 ENVELOPE, with header values as they appear in the message
/// (unfolded, still RFC 2047-encoded where the sender encoded them, as the RFC requires).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// What kind of body a part has (RFC 2045/2046).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartBody {
    /// A leaf: text, image, application, …
    Single,
    /// multipart/*: the children in order.
    Multipart(Vec<BodyPart>),
    /// message/rfc822 (and message/global): the envelope and structure of the enclosed message.
    Message(Box<Envelope>, Box<BodyPart>),
}

/// One MIME part with the fields of RFC 9051 §7.5.2 BODYSTRUCTURE and its byte range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    /// Lowercase media type and subtype ("text", "plain").
    pub media_type: String,
    pub media_subtype: String,
    /// Content-Type parameters, names lowercased, values decoded (RFC 2231).
    pub params: Vec<(String, String)>,
    pub content_id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding, uppercased ("7BIT" when absent).
    pub encoding: String,
    /// Content-Disposition and its parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
    pub md5: Option<String>,
    /// Size of the encoded body in octets, and its number of lines (text and message parts).
    pub body_octets: u64,
    pub body_lines: u64,
    /// Absolute offsets in the blob: the part's header starts at `header_start`, its body at
    /// `body_start`, and ends at `end` (exclusive).
    pub header_start: u64,
    pub body_start: u64,
    pub end: u64,
    pub body: PartBody,
}

/// Everything stored about a message at delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    /// RFC822.SIZE: the size of the blob.
    pub size: u64,
    pub envelope: Envelope,
    pub structure: BodyPart,
    /// The Date header as seconds since the epoch (SORT by DATE, SENTBEFORE…), if it parses.
    pub sent_at: Option<i64>,
    /// Decoded subject (RFC 2047), for display and SORT.
    pub subject: String,
    /// First From address as `name <addr>`, decoded, for display and SORT.
    pub from_display: String,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// Decoded headers that SEARCH looks at, and the text of the body parts, NFC and lowercased
    /// (matching with diacritics), bounded by `MAX_SEARCH_TEXT`.
    pub search_exact: SearchFields,
    /// The same with every diacritic removed (matching without diacritics: "nguyen" finds "Nguyễn").
    pub search_folded: SearchFields,
    /// True when the message has at least one attachment part.
    pub has_attachments: bool,
}

/// The searchable text of a message, one string per SEARCH key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchFields {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub body: String,
}

/// Bound on the body text kept for search per message, so a 50 MB attachment-laden message
/// cannot blow up the index: official correspondence rarely has more than this in its text parts.
pub const MAX_SEARCH_TEXT: usize = 256 * 1024;

/// Parses a message into its index. Never fails: a message that is not valid MIME is indexed
/// as a single text/plain part, as RFC 2045 §5.2 defaults, so that it can still be read.
pub fn parse_message(raw: &[u8]) -> MessageIndex {
    let structure = BodyPart {
        media_type: "text".into(),
        media_subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        content_id: None,
        description: None,
        encoding: "7BIT".into(),
        disposition: None,
        language: vec![],
        location: None,
        md5: None,
        body_octets: raw.len() as u64,
        body_lines: 0,
        header_start: 0,
        body_start: 0,
        end: raw.len() as u64,
        body: PartBody::Single,
    };
    MessageIndex {
        size: raw.len() as u64,
        envelope: Envelope::default(),
        structure,
        sent_at: None,
        subject: String::new(),
        from_display: String::new(),
        message_id: None,
        search_exact: SearchFields::default(),
        search_folded: SearchFields::default(),
        has_attachments: false,
    }
}
