//! How the directory compares text: case-insensitive always; diacritic-insensitive when the
//! person searching typed none (R-PROTO-4, the rule IMAP SEARCH follows too).
//!
//! "nguyen van an", "Nguyễn Văn An" and the same in decomposed (NFD) form all find
//! "Nguyễn Văn An"; "Nguyễn" does not find "Nguyên", because it says which vowel it means.
//! Runs of white space count as one space, so a doubled space in a query still matches.

use congvu_core::fold::{fold_diacritics, has_diacritics, normalize_lower};

/// Whether a comparison keeps diacritics ([`Mode::Exact`]) or drops them ([`Mode::Folded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exact,
    Folded,
}

impl Mode {
    /// The mode a query asks for: exact when any part of it carries a diacritic.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a str>) -> Mode {
        if parts.into_iter().any(has_diacritics) {
            Mode::Exact
        } else {
            Mode::Folded
        }
    }

    /// `text` in the form this mode compares: NFC, lowercase, single spaces, and without
    /// diacritics when folded.
    pub fn prepare(self, text: &str) -> String {
        let lower = normalize_lower(text);
        let text = match self {
            Mode::Exact => lower,
            Mode::Folded => fold_diacritics(&lower),
        };
        collapse_spaces(&text)
    }
}

fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// One search word or phrase, prepared once and compared with many values.
#[derive(Debug, Clone)]
pub struct Needle {
    mode: Mode,
    text: String,
}

impl Needle {
    pub fn new(query: &str) -> Needle {
        let mode = Mode::of([query]);
        Needle {
            mode,
            text: mode.prepare(query),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether `value` contains the needle.
    pub fn is_in(&self, value: &str) -> bool {
        self.mode.prepare(value).contains(&self.text)
    }

    /// Whether `value` is the needle.
    pub fn equals(&self, value: &str) -> bool {
        self.mode.prepare(value) == self.text
    }
}

/// An LDAP substring assertion (RFC 4511 §4.5.1.7.2): `initial*any*…*final`, each part
/// matched in order without overlap.
#[derive(Debug, Clone)]
pub struct Substrings {
    mode: Mode,
    initial: Option<String>,
    any: Vec<String>,
    last: Option<String>,
}

impl Substrings {
    pub fn new(initial: Option<&str>, any: &[String], last: Option<&str>) -> Substrings {
        let mode = Mode::of(
            initial
                .into_iter()
                .chain(any.iter().map(String::as_str))
                .chain(last),
        );
        // Spaces at the edges of a part matter ("an *" is not "an*"), so parts are folded
        // and lowercased but not trimmed.
        let part = |p: &str| {
            let lower = normalize_lower(p);
            match mode {
                Mode::Exact => lower,
                Mode::Folded => fold_diacritics(&lower),
            }
        };
        Substrings {
            mode,
            initial: initial.map(part).filter(|p| !p.is_empty()),
            any: any
                .iter()
                .map(|a| part(a))
                .filter(|p| !p.is_empty())
                .collect(),
            last: last.map(part).filter(|p| !p.is_empty()),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        let lower = normalize_lower(value);
        let value = match self.mode {
            Mode::Exact => lower,
            Mode::Folded => fold_diacritics(&lower),
        };
        let mut rest = value.as_str();
        if let Some(initial) = &self.initial {
            match rest.strip_prefix(initial.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        for part in &self.any {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        match &self.last {
            Some(last) => rest.ends_with(last.as_str()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AN: &str = "Nguyễn Văn An";

    #[test]
    fn with_or_without_diacritics_and_in_nfd() {
        for query in [
            "nguyen van an",
            "Nguyễn Văn An",
            "NGUYỄN VĂN AN",
            "Nguye\u{302}\u{303}n Va\u{306}n An", // decomposed (NFD)
            "nguyen  van   an",
            "văn an",
        ] {
            assert!(Needle::new(query).is_in(AN), "{query:?}");
        }
        // An NFD value in the store matches an NFC query too.
        assert!(Needle::new("Nguyễn").is_in("Nguye\u{302}\u{303}n Va\u{306}n An"));
        assert!(Needle::new("dang").is_in("Đặng Thị Hương"));
        assert!(Needle::new("Đặng").is_in("Đặng Thị Hương"));
    }

    #[test]
    fn a_query_with_diacritics_means_them() {
        assert!(!Needle::new("Nguyên").is_in(AN));
        assert!(!Needle::new("Đặng").is_in("Dang Van Tuan"));
        assert!(Needle::new("dang").is_in("Dang Van Tuan"));
    }

    #[test]
    fn equality_is_whole_value() {
        assert!(Needle::new("nguyen van an").equals(AN));
        assert!(!Needle::new("nguyen van").equals(AN));
    }

    #[test]
    fn substrings_in_order() {
        let s = |i: Option<&str>, any: &[&str], f: Option<&str>| {
            Substrings::new(i, &any.iter().map(|a| a.to_string()).collect::<Vec<_>>(), f)
        };
        assert!(s(None, &["nguyen"], None).matches(AN));
        assert!(s(None, &["Nguyễn"], None).matches(AN));
        assert!(s(Some("ngu"), &[], None).matches(AN));
        assert!(!s(Some("van"), &[], None).matches(AN));
        assert!(s(Some("ng"), &["van"], Some("an")).matches(AN));
        // Parts may not overlap: "an" after "van" needs another "an".
        assert!(!s(None, &["van an", "an"], None).matches(AN));
        assert!(s(None, &[], Some(" an")).matches(AN));
        assert!(s(Some("an"), &[], Some("@bacgiang.gov.vn")).matches("annv@bacgiang.gov.vn"));
        assert!(!s(None, &["Nguyên"], None).matches(AN));
        // `(cn=*)` sent as an empty substring filter matches anything.
        assert!(s(None, &[], None).matches(AN));
    }
}
