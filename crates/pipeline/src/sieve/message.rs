//! The message as a Sieve script sees it: header fields decoded (RFC 2047) and unfolded,
//! address fields split into addresses, and body texts for the body test (RFC 5173).
//! Parsed once per message and shared by every recipient's script.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

pub struct SieveMessage<'a> {
    raw: &'a [u8],
    parsed: Option<Message<'a>>,
}

impl<'a> SieveMessage<'a> {
    pub fn new(raw: &'a [u8]) -> SieveMessage<'a> {
        SieveMessage {
            raw,
            parsed: MessageParser::default().parse(raw),
        }
    }

    pub fn size(&self) -> u64 {
        self.raw.len() as u64
    }

    /// The raw value bytes of each top-level field called `name` (case-insensitive).
    pub(crate) fn raw_values(&self, name: &str) -> Vec<&'a [u8]> {
        let Some(message) = &self.parsed else {
            return Vec::new();
        };
        message
            .root_part()
            .headers
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(|h| {
                // mail-parser's value parsers finish a field at its line end: include it.
                let mut end = h.offset_end as usize;
                while end < self.raw.len() && matches!(self.raw[end], b'\r' | b'\n') {
                    end += 1;
                    if self.raw[end - 1] == b'\n' {
                        break;
                    }
                }
                self.raw.get(h.offset_start as usize..end)
            })
            .collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        !self.raw_values(name).is_empty()
    }

    /// Decoded, unfolded values of the field, one per occurrence (RFC 5228 §5.7).
    pub fn header_texts(&self, name: &str) -> Vec<String> {
        self.raw_values(name)
            .into_iter()
            .map(|raw| match MessageStream::new(raw).parse_unstructured() {
                HeaderValue::Text(t) => t.trim().to_string(),
                _ => String::new(),
            })
            .collect()
    }

    /// The addresses of an address field, one string per address (RFC 5228 §5.1).
    pub fn header_addresses(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for raw in self.raw_values(name) {
            let value = MessageStream::new(raw).parse_address();
            let HeaderValue::Address(address) = value else {
                continue;
            };
            match address {
                Address::List(list) => out.extend(
                    list.iter()
                        .filter_map(|a| a.address.as_deref().map(str::to_string)),
                ),
                Address::Group(groups) => out.extend(groups.iter().flat_map(|g| {
                    g.addresses
                        .iter()
                        .filter_map(|a| a.address.as_deref().map(str::to_string))
                })),
            }
        }
        out
    }

    /// The texts `body :text` looks at: every text part, decoded (RFC 5173 §5.3).
    pub fn body_texts(&self) -> Vec<String> {
        self.parts_where(|full, _| full.starts_with("text/"))
    }

    /// `body :content "type"`: the parts whose type is one of `types` ("text", "text/plain";
    /// "" means every part), decoded (RFC 5173 §5.2).
    pub fn body_contents(&self, types: &[String]) -> Vec<String> {
        self.parts_where(|full, main| {
            types.iter().any(|t| {
                let t = t.to_ascii_lowercase();
                t.is_empty() || t == full || t == main
            })
        })
    }

    /// `body :raw`: the undecoded body after the header (RFC 5173 §5.1).
    pub fn body_raw(&self) -> Vec<String> {
        let start = self
            .parsed
            .as_ref()
            .map(|m| m.root_part().offset_body as usize)
            .unwrap_or(self.raw.len());
        vec![String::from_utf8_lossy(self.raw.get(start..).unwrap_or_default()).into_owned()]
    }

    fn parts_where(&self, want: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let Some(message) = &self.parsed else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for part in &message.parts {
            let (main, full) = match part.content_type() {
                Some(ct) => {
                    let main = ct.ctype().to_ascii_lowercase();
                    let full = match ct.subtype() {
                        Some(sub) => format!("{main}/{}", sub.to_ascii_lowercase()),
                        None => main.clone(),
                    };
                    (main, full)
                }
                None => ("text".to_string(), "text/plain".to_string()),
            };
            // want("type/subtype", "type"): callers match either form.
            if !want(&full, &main) {
                continue;
            }
            match &part.body {
                PartType::Text(t) | PartType::Html(t) => out.push(t.to_string()),
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    out.push(String::from_utf8_lossy(b).into_owned())
                }
                PartType::Message(_) | PartType::Multipart(_) => {}
            }
        }
        out
    }
}
