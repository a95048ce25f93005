//! BODY[section]<partial> extraction (RFC 9051 §6.4.5) from a stored blob and its MIME index.
//!
//! What it keeps true: the blob is never re-parsed for structure; parts are found by the
//! offsets stored at delivery (`header_start`, `body_start`, `end`). Only HEADER.FIELDS reads
//! the header bytes of the one part it names. Offsets are clamped to the blob, so a stale or
//! corrupt index yields short data, never a panic. A part that does not exist yields empty data.

use congvu_wire::mime::{BodyPart, PartBody};

/// What follows the part path in a section specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// The whole part (or, with an empty path, the whole message).
    Full,
    Header,
    /// HEADER.FIELDS (names) or, with `not`, HEADER.FIELDS.NOT (names); names compared
    /// case-insensitively.
    HeaderFields {
        names: Vec<String>,
        not: bool,
    },
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub path: Vec<u32>,
    pub text: SectionText,
}

/// Finds part `n` (1-based) of a message whose top-level part is `body`: the children of a
/// multipart, or the body itself as part 1 (RFC 9051 §6.4.5 "Every message has at least one
/// part number").
fn enter_message(body: &BodyPart, n: u32) -> Option<&BodyPart> {
    match &body.body {
        PartBody::Multipart(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        _ if n == 1 => Some(body),
        _ => None,
    }
}

fn descend(part: &BodyPart, n: u32) -> Option<&BodyPart> {
    match &part.body {
        PartBody::Multipart(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        PartBody::Message(_, inner) => enter_message(inner, n),
        PartBody::Single => None,
    }
}

/// The part at `path` below the message's root part.
pub fn find_part<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let (first, rest) = path.split_first()?;
    let mut part = enter_message(root, *first)?;
    for n in rest {
        part = descend(part, *n)?;
    }
    Some(part)
}

fn slice(blob: &[u8], start: u64, end: u64) -> &[u8] {
    let len = blob.len() as u64;
    let end = end.min(len);
    let start = start.min(end);
    // Both are ≤ blob.len(), which fits in usize.
    &blob[start as usize..end as usize]
}

/// The message whose header and text HEADER/TEXT refer to: the root for an empty path, or the
/// message enclosed in a message/rfc822 part.
fn message_at<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    if path.is_empty() {
        return Some(root);
    }
    match &find_part(root, path)?.body {
        PartBody::Message(_, inner) => Some(inner),
        _ => None,
    }
}

/// The octets of a section; empty when the section does not exist.
pub fn extract(blob: &[u8], root: &BodyPart, spec: &SectionSpec) -> Vec<u8> {
    match &spec.text {
        SectionText::Full if spec.path.is_empty() => blob.to_vec(),
        SectionText::Full => find_part(root, &spec.path)
            .map(|p| slice(blob, p.body_start, p.end).to_vec())
            .unwrap_or_default(),
        SectionText::Mime => find_part(root, &spec.path)
            .map(|p| slice(blob, p.header_start, p.body_start).to_vec())
            .unwrap_or_default(),
        SectionText::Header => message_at(root, &spec.path)
            .map(|m| slice(blob, m.header_start, m.body_start).to_vec())
            .unwrap_or_default(),
        SectionText::Text => message_at(root, &spec.path)
            .map(|m| slice(blob, m.body_start, m.end).to_vec())
            .unwrap_or_default(),
        SectionText::HeaderFields { names, not } => message_at(root, &spec.path)
            .map(|m| filter_header(slice(blob, m.header_start, m.body_start), names, *not))
            .unwrap_or_default(),
    }
}

/// Splits a header block into fields, each with its continuation lines, as raw bytes.
pub fn header_fields(header: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    let mut i = 0;
    let mut current: Option<(usize, usize)> = None; // (start, name_end)
    while i < header.len() {
        let line_end = header[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(header.len());
        let line = &header[i..line_end];
        let is_blank = line == b"\r\n" || line == b"\n";
        let is_continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !is_continuation {
            if let Some((s, name_end)) = current.take() {
                fields.push((&header[s..name_end], &header[s..i]));
            }
            if is_blank {
                break;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                current = Some((i, i + colon));
            }
        }
        i = line_end;
    }
    if let Some((s, name_end)) = current {
        fields.push((&header[s..name_end], &header[s..i.min(header.len())]));
    }
    fields
}

/// RFC 9051 §6.4.5 HEADER.FIELDS: the matching fields in their original order and form,
/// followed by the blank line that ends a header.
pub fn filter_header(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, raw) in header_fields(header) {
        let name = trim_ascii(name);
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(raw);
            if !raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|p| p + 1)
        .unwrap_or(start);
    &b[start..end.max(start)]
}

/// RFC 9051 §6.4.5 `<origin.count>`: the substring, empty when the origin is past the end.
pub fn partial(data: &[u8], origin: u32, count: u32) -> &[u8] {
    let start = (origin as usize).min(data.len());
    let end = start.saturating_add(count as usize).min(data.len());
    &data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(mt: &str, st: &str, h: u64, b: u64, e: u64, body: PartBody) -> BodyPart {
        BodyPart {
            media_type: mt.into(),
            media_subtype: st.into(),
            params: vec![],
            content_id: None,
            description: None,
            encoding: "7BIT".into(),
            disposition: None,
            language: vec![],
            location: None,
            md5: None,
            body_octets: e - b,
            body_lines: 1,
            header_start: h,
            body_start: b,
            end: e,
            body,
        }
    }

    /// A multipart/mixed message with a text part and an attached message/rfc822.
    fn sample() -> (Vec<u8>, BodyPart) {
        let head = "Subject: Hi\r\nFrom: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n";
        let p1_head = "Content-Type: text/plain\r\n\r\n";
        let p1_body = "hello";
        let p2_head = "Content-Type: message/rfc822\r\n\r\n";
        let inner_head = "Subject: Inner\r\n\r\n";
        let inner_body = "inner text";
        let mut blob = String::new();
        blob.push_str(head);
        blob.push_str("--b\r\n");
        let p1h = blob.len() as u64;
        blob.push_str(p1_head);
        let p1b = blob.len() as u64;
        blob.push_str(p1_body);
        let p1e = blob.len() as u64;
        blob.push_str("\r\n--b\r\n");
        let p2h = blob.len() as u64;
        blob.push_str(p2_head);
        let p2b = blob.len() as u64;
        blob.push_str(inner_head);
        let ib = blob.len() as u64;
        blob.push_str(inner_body);
        let p2e = blob.len() as u64;
        blob.push_str("\r\n--b--\r\n");
        let inner = part("text", "plain", p2b, ib, p2e, PartBody::Single);
        let p2 = part(
            "message",
            "rfc822",
            p2h,
            p2b,
            p2e,
            PartBody::Message(Box::default(), Box::new(inner)),
        );
        let p1 = part("text", "plain", p1h, p1b, p1e, PartBody::Single);
        let root = part(
            "multipart",
            "mixed",
            0,
            head.len() as u64,
            blob.len() as u64,
            PartBody::Multipart(vec![p1, p2]),
        );
        (blob.into_bytes(), root)
    }

    fn get(spec_path: &[u32], text: SectionText) -> String {
        let (blob, root) = sample();
        String::from_utf8(extract(
            &blob,
            &root,
            &SectionSpec {
                path: spec_path.to_vec(),
                text,
            },
        ))
        .unwrap()
    }

    #[test]
    fn numeric_parts_and_nested_message() {
        assert_eq!(get(&[1], SectionText::Full), "hello");
        assert_eq!(
            get(&[1], SectionText::Mime),
            "Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(
            get(&[2], SectionText::Full),
            "Subject: Inner\r\n\r\ninner text"
        );
        assert_eq!(get(&[2], SectionText::Header), "Subject: Inner\r\n\r\n");
        assert_eq!(get(&[2], SectionText::Text), "inner text");
        assert_eq!(get(&[2, 1], SectionText::Full), "inner text");
        assert_eq!(get(&[3], SectionText::Full), "");
        assert_eq!(get(&[1, 1], SectionText::Full), "");
        assert_eq!(get(&[0], SectionText::Full), "");
        // HEADER of a non-message part does not exist.
        assert_eq!(get(&[1], SectionText::Header), "");
    }

    #[test]
    fn header_and_text_of_root() {
        let (blob, _) = sample();
        assert!(get(&[], SectionText::Header).starts_with("Subject: Hi\r\n"));
        assert!(get(&[], SectionText::Header).ends_with("boundary=b\r\n\r\n"));
        assert!(get(&[], SectionText::Text).starts_with("--b\r\n"));
        assert_eq!(get(&[], SectionText::Full).len(), blob.len());
    }

    #[test]
    fn header_fields_filtering() {
        let header = b"Subject: Hi\r\n there\r\nFrom: a@x\r\nTo: b@y\r\n\r\n";
        let only = filter_header(header, &["subject".into(), "TO".into()], false);
        assert_eq!(only, b"Subject: Hi\r\n there\r\nTo: b@y\r\n\r\n".to_vec());
        let not = filter_header(header, &["subject".into()], true);
        assert_eq!(not, b"From: a@x\r\nTo: b@y\r\n\r\n".to_vec());
        let none = filter_header(header, &["x-none".into()], false);
        assert_eq!(none, b"\r\n".to_vec());
    }

    #[test]
    fn partial_ranges() {
        assert_eq!(partial(b"abcdef", 2, 3), b"cde");
        assert_eq!(partial(b"abcdef", 4, 100), b"ef");
        assert_eq!(partial(b"abcdef", 10, 1), b"");
        assert_eq!(partial(b"abcdef", 0, u32::MAX), b"abcdef");
    }

    #[test]
    fn corrupt_offsets_do_not_panic() {
        let root = part("text", "plain", 50, 40, 1000, PartBody::Single);
        let spec = SectionSpec {
            path: vec![1],
            text: SectionText::Full,
        };
        assert_eq!(extract(b"short", &root, &spec), b"".to_vec());
        let spec = SectionSpec {
            path: vec![],
            text: SectionText::Header,
        };
        assert_eq!(extract(b"short", &root, &spec), b"".to_vec());
    }
}
