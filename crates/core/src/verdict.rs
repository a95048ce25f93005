//! The outcome of the message policy pipeline, and protocol-neutral replies.

/// A reply in SMTP terms (RFC 5321 §4.2 code, RFC 3463 enhanced status); IMAP and POP3 map
/// it to their own codes. `text` is one English sentence naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

/// What the pipeline decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver as is, with these header lines prepended (each ending in CRLF).
    Accept { add_headers: Vec<String> },
    /// Refuse the message.
    Reject(Reply),
    /// Keep it away from the recipient, for the operator to look at.
    Quarantine { reason: String },
    /// Deliver into the recipient's Junk folder, with these headers.
    Junk { add_headers: Vec<String> },
}
