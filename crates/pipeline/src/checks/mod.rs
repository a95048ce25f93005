//! The checks a message passes, one module per stage: the ones every mail system needs (hop
//! count, header sanity) here, the province's policy stages in their own files.

pub mod antivirus;
pub mod archive;
pub mod attachments;
pub mod doctext;
pub mod marks;
pub mod rar;
pub mod sender_auth;
pub mod spam;

use crate::policy::Action;
use crate::{Check, MessageView, Outcome, Source};
use async_trait::async_trait;
use congvu_core::Reply;

/// Mail from another system; everything else was written by one of our users.
pub(crate) fn is_inbound(source: Source) -> bool {
    source == Source::Mx
}

/// The outcome a configured [`Action`] gives: `text` is the bilingual sentence for the sender or
/// the operator, `tag` the ASCII value of the `X-Congvu-Policy` header when the action is to tag.
pub(crate) fn apply_action(action: Action, text: String, tag: &str) -> Outcome {
    match action {
        Action::Reject => Outcome::Reject(Reply::new(554, "5.7.1", text)),
        Action::Quarantine => Outcome::Quarantine(text),
        Action::Tag => Outcome::AddHeaders(vec![format!("X-Congvu-Policy: {tag}\r\n")]),
    }
}

/// A file name as it may appear in a reply line: no control characters (a CR or LF would start
/// a new reply line, RFC 5321 §4.2), at most 80 characters.
pub(crate) fn display_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if name.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// RFC 5321 §6.3: a message with too many `Received` headers is looping; refuse it rather
/// than pass it round for ever. Postfix's default is 50; we use the same.
pub struct HopCount {
    pub max_hops: usize,
}

impl Default for HopCount {
    fn default() -> Self {
        HopCount { max_hops: 50 }
    }
}

#[async_trait]
impl Check for HopCount {
    fn name(&self) -> &'static str {
        "hop-count"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        let hops = count_header(ctx.raw, b"received");
        if hops > self.max_hops {
            Outcome::Reject(Reply::new(
                554,
                "5.4.6",
                format!(
                    "Mail loop detected: the message has passed {hops} servers (limit {}).",
                    self.max_hops
                ),
            ))
        } else {
            Outcome::Pass
        }
    }
}

/// RFC 5322 §3.6: a message has a header section; one that does not parse as headers at all
/// (binary junk, a bare body) is refused instead of being stored as an unreadable message.
pub struct HeaderSanity;

#[async_trait]
impl Check for HeaderSanity {
    fn name(&self) -> &'static str {
        "header-sanity"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        if ctx.raw.is_empty() {
            return Outcome::Reject(Reply::new(554, "5.6.0", "The message is empty."));
        }
        Outcome::Pass
    }
}

/// Counts header fields named `name` (lowercase) in the header section.
fn count_header(raw: &[u8], name: &[u8]) -> usize {
    let mut count = 0;
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()] == b':'
        {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_received_headers_in_header_section_only() {
        let raw =
            b"Received: a\r\nreceived: b\r\n\tcontinued\r\nSubject: x\r\n\r\nReceived: in body\r\n";
        assert_eq!(count_header(raw, b"received"), 2);
    }
}
