//! The decoded pieces of a message that the policy stages look at: subjects, body texts and
//! attachments, taken from the raw bytes with mail-parser (RFC 2045 §6 transfer decoding,
//! RFC 2047/2231 names). Messages nested as `message/rfc822` (RFC 2046 §5.2.1) are opened too,
//! to [`MAX_NESTED_MESSAGES`] levels, so forwarding a letter as an attachment hides nothing.
//!
//! Invariant: every leaf part that is not plain body text is an attachment, named or not, so a
//! check that looks at attachments sees every byte a mail client could save to disk.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Nested messages deeper than this are not opened; mail-parser itself stops earlier.
pub const MAX_NESTED_MESSAGES: usize = 8;

/// One attachment, transfer-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the sender gave, or `part N` for an unnamed part.
    pub name: String,
    pub data: Vec<u8>,
}

/// What a message shows its reader.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The subject of the message and of every nested message.
    pub subjects: Vec<String>,
    /// Body texts (HTML reduced to text), outer message first.
    pub texts: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// The HTML of the outer message's HTML body parts, as written (tags and links kept).
    pub html_bodies: Vec<String>,
}

impl Decoded {
    pub fn has_attachments(&self) -> bool {
        !self.attachments.is_empty()
    }
}

/// Decodes `raw`. A message mail-parser cannot read at all yields nothing but is still seen
/// whole by the checks that look at raw bytes.
pub fn decode_message(raw: &[u8]) -> Decoded {
    let mut decoded = Decoded::default();
    if let Some(message) = MessageParser::default().parse(raw) {
        collect(&message, 0, &mut decoded);
        for id in &message.html_body {
            if let Some(PartType::Html(html)) = message.parts.get(*id as usize).map(|p| &p.body) {
                decoded.html_bodies.push(html.to_string());
            }
        }
    }
    decoded
}

fn collect(message: &Message<'_>, depth: usize, out: &mut Decoded) {
    if let Some(subject) = message.subject() {
        out.subjects.push(subject.to_string());
    }
    for (i, part) in message.parts.iter().enumerate() {
        let name = part.attachment_name().map(str::to_string);
        let label = || name.clone().unwrap_or_else(|| format!("part {}", i + 1));
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Text(text) => {
                out.texts.push(text.to_string());
                if name.is_some() {
                    out.attachments.push(Attachment {
                        name: label(),
                        data: text.as_bytes().to_vec(),
                    });
                }
            }
            PartType::Html(html) => {
                out.texts
                    .push(mail_parser::decoders::html::html_to_text(html));
                if name.is_some() {
                    out.attachments.push(Attachment {
                        name: label(),
                        data: html.as_bytes().to_vec(),
                    });
                }
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => {
                out.attachments.push(Attachment {
                    name: label(),
                    data: data.to_vec(),
                });
            }
            PartType::Message(nested) => {
                if depth + 1 < MAX_NESTED_MESSAGES {
                    collect(nested, depth + 1, out);
                } else {
                    // Too deep to open: hand the bytes to the attachment checks whole.
                    out.attachments.push(Attachment {
                        name: label(),
                        data: nested.raw_message().to_vec(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_named_and_unnamed_attachments_and_nested_messages() {
        let raw = concat!(
            "Subject: =?UTF-8?B?VOG7kEkgTeG6rFQ=?=\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n",
            "--b\r\nContent-Type: application/octet-stream; name=\"a.exe\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n",
            "--b\r\nContent-Type: application/octet-stream\r\n\r\nraw\r\n",
            "--b\r\nContent-Type: message/rfc822\r\n\r\n",
            "Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner body\r\n",
            "--b--\r\n"
        );
        let d = decode_message(raw.as_bytes());
        assert_eq!(d.subjects, vec!["TỐI MẬT".to_string(), "inner".to_string()]);
        assert_eq!(d.attachments.len(), 2, "{:?}", d.attachments);
        assert_eq!(d.attachments[0].name, "a.exe");
        assert_eq!(d.attachments[0].data, b"MZ\x90\x00");
        assert!(d.attachments[1].name.starts_with("part "));
        assert!(d.texts.iter().any(|t| t.contains("inner body")));
        assert!(d.html_bodies.is_empty());
    }

    #[test]
    fn keeps_the_html_of_the_outer_message() {
        let raw =
            "Subject: x\r\nContent-Type: text/html\r\n\r\n<a href=\"http://a.test/\">a</a>\r\n";
        let d = decode_message(raw.as_bytes());
        assert_eq!(d.html_bodies.len(), 1);
        assert!(d.html_bodies[0].contains("href=\"http://a.test/\""));
    }
}
