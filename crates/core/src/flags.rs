//! Message flags: the five IMAP system flags as bits, keywords as a sorted set of names.
//!
//! `\Recent` is not stored: RFC 9051 removed it, and IMAP4rev1 sessions derive it per session.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ];

    pub fn bit(self) -> u32 {
        match self {
            Flag::Seen => 1,
            Flag::Answered => 2,
            Flag::Flagged => 4,
            Flag::Deleted => 8,
            Flag::Draft => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
        }
    }

    pub fn from_name(name: &str) -> Option<Flag> {
        Flag::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// The flags of one message in one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    pub system: u32,
    pub keywords: BTreeSet<String>,
}

/// RFC 9051 §2.3.2: a keyword is an atom; we also bound its length and the count per message,
/// so one client cannot bloat the index.
pub const MAX_KEYWORD_LEN: usize = 100;
pub const MAX_KEYWORDS_PER_MESSAGE: usize = 64;

impl Flags {
    pub fn has(&self, flag: Flag) -> bool {
        self.system & flag.bit() != 0
    }

    pub fn set(&mut self, flag: Flag, on: bool) {
        if on {
            self.system |= flag.bit();
        } else {
            self.system &= !flag.bit();
        }
    }

    /// Parses flag names as IMAP writes them (`\Seen`, `$Junk`, `NonJunk`).
    /// Unknown backslash flags are ignored, as RFC 9051 §2.3.2 allows servers to.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Flags {
        let mut flags = Flags::default();
        for name in names {
            flags.add_name(name);
        }
        flags
    }

    pub fn add_name(&mut self, name: &str) {
        if let Some(flag) = Flag::from_name(name) {
            self.set(flag, true);
        } else if !name.starts_with('\\')
            && !name.is_empty()
            && name.len() <= MAX_KEYWORD_LEN
            && self.keywords.len() < MAX_KEYWORDS_PER_MESSAGE
        {
            self.keywords.insert(name.to_string());
        }
    }

    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Flag::ALL
            .into_iter()
            .filter(|f| self.has(*f))
            .map(|f| f.name().to_string())
            .collect();
        out.extend(self.keywords.iter().cloned());
        out
    }

    /// Keywords stored as one space-separated column (keywords are atoms: no spaces).
    pub fn keywords_column(&self) -> String {
        self.keywords.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    pub fn from_columns(system: u32, keywords: &str) -> Flags {
        Flags {
            system,
            keywords: keywords
                .split(' ')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    /// STORE semantics (RFC 9051 §6.4.6).
    pub fn apply(&mut self, op: FlagOp, other: &Flags) {
        match op {
            FlagOp::Replace => *self = other.clone(),
            FlagOp::Add => {
                self.system |= other.system;
                for k in &other.keywords {
                    if self.keywords.len() < MAX_KEYWORDS_PER_MESSAGE {
                        self.keywords.insert(k.clone());
                    }
                }
            }
            FlagOp::Remove => {
                self.system &= !other.system;
                for k in &other.keywords {
                    self.keywords.remove(k);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_apply() {
        let mut f = Flags::from_names(["\\Seen", "$Junk", "\\Unknown"]);
        assert!(f.has(Flag::Seen));
        assert_eq!(f.names(), vec!["\\Seen", "$Junk"]);
        f.apply(FlagOp::Add, &Flags::from_names(["\\Flagged"]));
        f.apply(FlagOp::Remove, &Flags::from_names(["\\Seen", "$Junk"]));
        assert_eq!(f.names(), vec!["\\Flagged"]);
        let round = Flags::from_columns(f.system, &f.keywords_column());
        assert_eq!(round, f);
    }
}
