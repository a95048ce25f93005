//! Folders every mailbox is created with, and their RFC 6154 special-use attributes.

use serde::{Deserialize, Serialize};

/// RFC 6154 special uses (and INBOX, which RFC 9051 §5.1 makes special by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Junk,
    Trash,
    Archive,
}

impl SpecialUse {
    /// The folders a new mailbox gets, in display order.
    pub const DEFAULT_SET: [SpecialUse; 6] = [
        SpecialUse::Inbox,
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Junk,
        SpecialUse::Trash,
        SpecialUse::Archive,
    ];

    /// The folder name used over IMAP. English names, because every client maps them by the
    /// special-use attribute or by these very names; webmail shows Vietnamese labels.
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "INBOX",
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Junk => "Junk",
            SpecialUse::Trash => "Trash",
            SpecialUse::Archive => "Archive",
        }
    }

    /// The Vietnamese label shown in webmail.
    pub fn label_vi(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "Hộp thư đến",
            SpecialUse::Sent => "Thư đã gửi",
            SpecialUse::Drafts => "Thư nháp",
            SpecialUse::Junk => "Thư rác",
            SpecialUse::Trash => "Thùng rác",
            SpecialUse::Archive => "Lưu trữ",
        }
    }

    /// The RFC 6154 attribute, e.g. `\Sent`; INBOX has none.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            SpecialUse::Inbox => None,
            SpecialUse::Sent => Some("\\Sent"),
            SpecialUse::Drafts => Some("\\Drafts"),
            SpecialUse::Junk => Some("\\Junk"),
            SpecialUse::Trash => Some("\\Trash"),
            SpecialUse::Archive => Some("\\Archive"),
        }
    }

    /// The stable token stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "inbox",
            SpecialUse::Sent => "sent",
            SpecialUse::Drafts => "drafts",
            SpecialUse::Junk => "junk",
            SpecialUse::Trash => "trash",
            SpecialUse::Archive => "archive",
        }
    }

    pub fn from_token(token: &str) -> Option<Self> {
        Self::DEFAULT_SET.into_iter().find(|s| s.as_str() == token)
    }

    /// Parses an RFC 6154 attribute such as `\Sent` (case-insensitive), as CREATE (USE (...)) sends.
    pub fn from_attribute(attr: &str) -> Option<Self> {
        Self::DEFAULT_SET
            .into_iter()
            .find(|s| s.attribute().is_some_and(|a| a.eq_ignore_ascii_case(attr)))
    }
}

/// RFC 9051 §5.1: INBOX is case-insensitive; every other name is case-sensitive.
pub fn canonical_folder_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

/// The hierarchy delimiter of every namespace.
pub const DELIMITER: char = '/';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for s in SpecialUse::DEFAULT_SET {
            assert_eq!(SpecialUse::from_token(s.as_str()), Some(s));
        }
        assert_eq!(SpecialUse::from_attribute("\\junk"), Some(SpecialUse::Junk));
        assert_eq!(canonical_folder_name("inbox"), "INBOX");
        assert_eq!(canonical_folder_name("Thư đến"), "Thư đến");
    }
}
