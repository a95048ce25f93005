//! Parse a message once, at delivery, into everything IMAP FETCH, SEARCH and SORT need
//! (DESIGN.md "Storage"), so that reads never re-parse the blob.
//!
//! Offsets are absolute byte positions in the stored blob (trace headers included), so
//! `BODY[1.2]` is a slice of the blob, not a re-parse.

use congvu_core::fold::{fold_diacritics, normalize_lower};
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
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

/// Bound on MIME nesting we index. mail-parser has its own bound; deeper structure is indexed as
/// opaque leaves, which IMAP clients can still fetch as bytes.
const MAX_DEPTH: usize = 32;

/// Parses a message into its index. Never fails: bytes that are not a valid message are
/// indexed as one text/plain body, as RFC 2045 §5.2 defaults, so the message can still be read.
pub fn parse_message(raw: &[u8]) -> MessageIndex {
    let size = raw.len() as u64;
    let Some(message) = MessageParser::default().parse(raw) else {
        return MessageIndex {
            size,
            envelope: Envelope::default(),
            structure: opaque_text_part(raw, 0, 0),
            sent_at: None,
            subject: String::new(),
            from_display: String::new(),
            message_id: None,
            search_exact: SearchFields::default(),
            search_folded: SearchFields::default(),
            has_attachments: false,
        };
    };
    let structure = match message.parts.first() {
        Some(root) => build_part(&message, root, raw, 0),
        None => opaque_text_part(raw, 0, 0),
    };
    let envelope = build_envelope(&message, raw);

    let subject = message.subject().map(normalize_nfc).unwrap_or_default();
    let from_display = message
        .from()
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(e)) => format!("{} <{e}>", normalize_nfc(n)),
            (None, Some(e)) => e.to_string(),
            (Some(n), None) => normalize_nfc(n),
            (None, None) => String::new(),
        })
        .unwrap_or_default();

    let exact = SearchFields {
        subject: normalize_lower(&subject),
        from: normalize_lower(&address_text(message.from())),
        to: normalize_lower(&address_text(message.to())),
        cc: normalize_lower(&address_text(message.cc())),
        bcc: normalize_lower(&address_text(message.bcc())),
        body: normalize_lower(&body_text(&message)),
    };
    let folded = SearchFields {
        subject: fold_diacritics(&exact.subject),
        from: fold_diacritics(&exact.from),
        to: fold_diacritics(&exact.to),
        cc: fold_diacritics(&exact.cc),
        bcc: fold_diacritics(&exact.bcc),
        body: fold_diacritics(&exact.body),
    };

    MessageIndex {
        size,
        envelope,
        structure,
        sent_at: message.date().map(|d| d.to_timestamp()),
        subject,
        from_display,
        message_id: message.message_id().map(str::to_string),
        search_exact: exact,
        search_folded: folded,
        has_attachments: message.attachment_count() > 0,
    }
}

impl MessageIndex {
    /// The index of the same message after `n` bytes of header lines were prepended to the blob
    /// (trace headers, Authentication-Results): every offset moves by `n` except the start of the
    /// top-level header, which now begins with the new lines.
    pub fn shifted_by(&self, n: u64) -> MessageIndex {
        let mut out = self.clone();
        out.size += n;
        shift_part(&mut out.structure, n);
        out.structure.header_start = 0;
        out
    }
}

fn shift_part(part: &mut BodyPart, n: u64) {
    part.header_start += n;
    part.body_start += n;
    part.end += n;
    match &mut part.body {
        PartBody::Single => {}
        PartBody::Multipart(children) => children.iter_mut().for_each(|c| shift_part(c, n)),
        PartBody::Message(_, inner) => shift_part(inner, n),
    }
}

fn normalize_nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}

fn opaque_text_part(raw: &[u8], header_start: u64, body_start: u64) -> BodyPart {
    let body = raw.get(body_start as usize..).unwrap_or_default();
    BodyPart {
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
        body_octets: body.len() as u64,
        body_lines: count_lines(body),
        header_start,
        body_start,
        end: raw.len() as u64,
        body: PartBody::Single,
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Builds one part (and its children) of `message`. Offsets from mail-parser are absolute in
/// `raw`, nested messages included, because they are parsed from the same buffer.
fn build_part(message: &Message<'_>, part: &MessagePart<'_>, raw: &[u8], depth: usize) -> BodyPart {
    let header_start = u64::from(part.raw_header_offset());
    let body_start = u64::from(part.raw_body_offset()).max(header_start);
    let end = u64::from(part.raw_end_offset()).clamp(body_start, raw.len() as u64);
    let body_bytes = raw
        .get(body_start as usize..end as usize)
        .unwrap_or_default();

    let (media_type, media_subtype, params) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            ct.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect::<Vec<_>>(),
        ),
        None if part.is_message() => ("message".into(), "rfc822".into(), vec![]),
        // RFC 2046 §5.1.5: inside multipart/digest the default is message/rfc822; mail-parser
        // tells us by giving a Message body. Otherwise RFC 2045 §5.2: text/plain; us-ascii.
        None => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    };
    let (media_type, media_subtype) = if media_subtype.is_empty() {
        match media_type.as_str() {
            "text" => (media_type, "plain".to_string()),
            "multipart" => (media_type, "mixed".to_string()),
            "message" => (media_type, "rfc822".to_string()),
            _ => (media_type, "octet-stream".to_string()),
        }
    } else {
        (media_type, media_subtype)
    };
    let encoding = part
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_uppercase())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7BIT".to_string());
    let disposition = part.content_disposition().map(|cd| {
        (
            cd.ctype().to_ascii_lowercase(),
            cd.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect(),
        )
    });
    let language = match part.content_language() {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };

    let body = match &part.body {
        PartType::Multipart(ids) if depth < MAX_DEPTH => PartBody::Multipart(
            ids.iter()
                .filter_map(|id| message.parts.get(*id as usize))
                .map(|child| build_part(message, child, raw, depth + 1))
                .collect(),
        ),
        // A base64/QP-encoded message/rfc822 was parsed from decoded bytes: its offsets do not
        // point into the blob, so it is described as an opaque leaf.
        PartType::Message(inner)
            if depth < MAX_DEPTH
                && (encoding == "7BIT" || encoding == "8BIT" || encoding == "BINARY") =>
        {
            match inner.parts.first() {
                Some(root) => PartBody::Message(
                    Box::new(build_envelope(inner, raw)),
                    Box::new(build_part(inner, root, raw, depth + 1)),
                ),
                None => PartBody::Single,
            }
        }
        _ => PartBody::Single,
    };
    let body = match (&body, media_type.as_str()) {
        // A multipart/* header whose parts could not be read is a leaf for IMAP purposes.
        (PartBody::Multipart(children), "multipart") if children.is_empty() => PartBody::Single,
        _ => body,
    };
    let (media_type, media_subtype) = match (&body, media_type.as_str()) {
        (PartBody::Multipart(_), t) if t != "multipart" => {
            ("multipart".to_string(), "mixed".to_string())
        }
        (PartBody::Message(..), t) if t != "message" => {
            ("message".to_string(), "rfc822".to_string())
        }
        _ => (media_type, media_subtype),
    };

    let body_lines = if media_type == "text" || matches!(body, PartBody::Message(..)) {
        count_lines(body_bytes)
    } else {
        0
    };

    BodyPart {
        media_type,
        media_subtype,
        params,
        content_id: part.content_id().map(|s| format!("<{s}>")),
        description: part.content_description().map(str::to_string),
        encoding,
        disposition,
        language,
        location: part.content_location().map(str::to_string),
        md5: raw_header(part, raw, &HeaderName::Other("Content-MD5".into())),
        body_octets: body_bytes.len() as u64,
        body_lines,
        header_start,
        body_start,
        end,
        body,
    }
}

/// The value of a header field as it appears in the message: unfolded (RFC 5322 §2.2.3),
/// trimmed, not decoded.
fn raw_header(part: &MessagePart<'_>, raw: &[u8], name: &HeaderName<'_>) -> Option<String> {
    part.headers
        .iter()
        .find(|h| &h.name == name)
        .and_then(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
        .map(|bytes| {
            let text = String::from_utf8_lossy(bytes);
            text.replace("\r\n", "")
                .replace('\n', "")
                .trim()
                .to_string()
        })
}

fn build_envelope(message: &Message<'_>, raw: &[u8]) -> Envelope {
    let Some(root) = message.parts.first() else {
        return Envelope::default();
    };
    let from = envelope_addresses(message.header(HeaderName::From));
    // RFC 9051 §7.5.2: if Sender or Reply-To is absent, the server fills it from From.
    let sender = match envelope_addresses(message.header(HeaderName::Sender)) {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match envelope_addresses(message.header(HeaderName::ReplyTo)) {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    Envelope {
        date: raw_header(root, raw, &HeaderName::Date),
        subject: raw_header(root, raw, &HeaderName::Subject),
        from,
        sender,
        reply_to,
        to: envelope_addresses(message.header(HeaderName::To)),
        cc: envelope_addresses(message.header(HeaderName::Cc)),
        bcc: envelope_addresses(message.header(HeaderName::Bcc)),
        in_reply_to: raw_header(root, raw, &HeaderName::InReplyTo),
        message_id: raw_header(root, raw, &HeaderName::MessageId),
    }
}

fn envelope_address(name: Option<&str>, addr: Option<&str>) -> EnvelopeAddress {
    let (mailbox, host) = match addr.and_then(|a| a.rsplit_once('@')) {
        Some((m, h)) => (Some(m.to_string()), Some(h.to_string())),
        None => (addr.map(str::to_string), Some(String::new())),
    };
    EnvelopeAddress {
        name: name.map(normalize_nfc),
        mailbox,
        host,
    }
}

fn envelope_addresses(value: Option<&HeaderValue<'_>>) -> Vec<EnvelopeAddress> {
    match value {
        Some(HeaderValue::Address(Address::List(list))) => list
            .iter()
            .map(|a| envelope_address(a.name(), a.address()))
            .collect(),
        Some(HeaderValue::Address(Address::Group(groups))) => {
            let mut out = Vec::new();
            for group in groups {
                match &group.name {
                    Some(name) => {
                        // Group start marker, members, end marker (RFC 9051 §7.5.2).
                        out.push(EnvelopeAddress {
                            name: None,
                            mailbox: Some(name.to_string()),
                            host: None,
                        });
                        out.extend(
                            group
                                .addresses
                                .iter()
                                .map(|a| envelope_address(a.name(), a.address())),
                        );
                        out.push(EnvelopeAddress::default());
                    }
                    None => out.extend(
                        group
                            .addresses
                            .iter()
                            .map(|a| envelope_address(a.name(), a.address())),
                    ),
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn address_text(address: Option<&Address<'_>>) -> String {
    let mut out = String::new();
    if let Some(address) = address {
        for a in address.iter() {
            if let Some(n) = a.name() {
                out.push_str(n);
                out.push(' ');
            }
            if let Some(e) = a.address() {
                out.push_str(e);
                out.push(' ');
            }
        }
    }
    out
}

/// The text of the message's text and HTML bodies (tags removed), bounded by `MAX_SEARCH_TEXT`.
fn body_text(message: &Message<'_>) -> String {
    let mut out = String::new();
    for (i, part) in message.parts.iter().enumerate() {
        if out.len() >= MAX_SEARCH_TEXT {
            break;
        }
        let is_body =
            message.text_body.contains(&(i as u32)) || message.html_body.contains(&(i as u32));
        if !is_body {
            continue;
        }
        match &part.body {
            PartType::Text(t) => push_bounded(&mut out, t),
            PartType::Html(h) => push_bounded(&mut out, &strip_tags(h)),
            _ => {}
        }
    }
    out
}

fn push_bounded(out: &mut String, text: &str) {
    let room = MAX_SEARCH_TEXT.saturating_sub(out.len());
    let mut cut = text.len().min(room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push_str(&text[..cut]);
    out.push('\n');
}

/// Removes tags and decodes the few entities that matter for search. Hand-written because the
/// result only feeds the search index, where a full HTML parser would be wasted work.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] =
        b"From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <annv@bacgiang.gov.vn>\r\n\
To: hattt@bacgiang.gov.vn, \"Tr\xe1\xba\xa7n B\xc3\xacnh\" <binh@example.vn>\r\n\
Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDEy?=\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n\
Message-ID: <abc@bacgiang.gov.vn>\r\n\
\r\n\
K\xc3\xadnh g\xe1\xbb\xadi \xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xc6\xb0\xc6\xa1ng.\r\n";

    #[test]
    fn indexes_a_simple_message() {
        let idx = parse_message(SIMPLE);
        assert_eq!(idx.size, SIMPLE.len() as u64);
        assert_eq!(idx.subject, "Công văn số 12");
        assert_eq!(idx.from_display, "Nguyễn Văn An <annv@bacgiang.gov.vn>");
        assert_eq!(idx.message_id.as_deref(), Some("abc@bacgiang.gov.vn"));
        assert_eq!(idx.sent_at, Some(1_795_402_800));
        assert_eq!(
            idx.envelope.subject.as_deref(),
            Some("=?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDEy?=")
        );
        assert_eq!(idx.envelope.to.len(), 2);
        assert_eq!(idx.envelope.to[0].mailbox.as_deref(), Some("hattt"));
        assert_eq!(idx.envelope.to[0].host.as_deref(), Some("bacgiang.gov.vn"));
        assert_eq!(idx.envelope.sender, idx.envelope.from);
        assert!(idx.search_folded.body.contains("dang thi huong"));
        assert!(idx.search_exact.body.contains("đặng thị hương"));
        assert!(idx.search_folded.from.contains("nguyen van an"));
        let s = &idx.structure;
        assert_eq!(
            (s.media_type.as_str(), s.media_subtype.as_str()),
            ("text", "plain")
        );
        let body = &SIMPLE[s.body_start as usize..s.end as usize];
        assert!(body.starts_with(b"K\xc3\xadnh"));
        assert_eq!(s.body_lines, 1);
    }

    #[test]
    fn multipart_offsets_point_into_the_blob() {
        let raw = b"From: a@x.vn\r\nSubject: t\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b1\r\n\
Content-Type: application/pdf; name=\"cv.pdf\"\r\nContent-Disposition: attachment; filename=\"cv.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n\
From: b@y.vn\r\nSubject: inner\r\n\r\ninner body\r\n--b1--\r\n";
        let idx = parse_message(raw);
        let PartBody::Multipart(children) = &idx.structure.body else {
            panic!("expected multipart, got {:?}", idx.structure.body);
        };
        assert_eq!(children.len(), 3);
        let text = &children[0];
        assert_eq!(&raw[text.body_start as usize..text.end as usize], b"hello");
        assert_eq!(
            &raw[text.header_start as usize..text.body_start as usize],
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        );
        let pdf = &children[1];
        assert_eq!(pdf.encoding, "BASE64");
        assert_eq!(&raw[pdf.body_start as usize..pdf.end as usize], b"JVBERi0x");
        assert_eq!(
            pdf.disposition.as_ref().map(|d| d.0.as_str()),
            Some("attachment")
        );
        let PartBody::Message(env, inner) = &children[2].body else {
            panic!("expected message/rfc822");
        };
        assert_eq!(env.subject.as_deref(), Some("inner"));
        assert_eq!(
            &raw[inner.body_start as usize..inner.end as usize],
            b"inner body"
        );
        assert!(idx.has_attachments);

        let shifted = idx.shifted_by(10);
        let PartBody::Multipart(sc) = &shifted.structure.body else {
            panic!()
        };
        assert_eq!(sc[0].body_start, text.body_start + 10);
        assert_eq!(shifted.structure.header_start, 0);
        assert_eq!(shifted.size, idx.size + 10);
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"no headers at all",
            b"\xff\xfe\x00",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        ] {
            let idx = parse_message(raw);
            assert_eq!(idx.size, raw.len() as u64);
        }
    }
}
