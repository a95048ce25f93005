//! Base-subject extraction (RFC 5256 §2.1) and the Vietnamese collation SORT and THREAD use.
//!
//! Collation: strings compare first by their diacritic-free lowercase form
//! (`fold_diacritics`: "Đặng" → "dang"), then by their NFC lowercase form, then byte-wise; so
//! "Nguyen", "Nguyễn" and "nguyễn" sort together, and the order among them is stable. This is
//! the `i;unicode-casemap`-like comparator RFC 5256 §2.1 leaves to the server, adapted so that
//! Vietnamese names a clerk types without diacritics sort where the accented names are.
//!
//! THREAD groups subjects by the diacritic-free form alone (`thread_key`).
//!
//! Base subject: besides the RFC 5256 `re`, `fw`, `fwd` leaders, the prefixes Vietnamese
//! Outlook writes — `TL` (Trả lời, reply) and `CT` (Chuyển tiếp, forward) — are removed too,
//! so replies written in either language thread with the original.

use congvu_core::fold::{fold_diacritics, normalize_lower};

/// A sort key for one string under the collation above.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Collated {
    folded: String,
    exact: String,
    raw: String,
}

impl Collated {
    pub fn new(s: &str) -> Collated {
        Collated {
            folded: fold_diacritics(s),
            exact: normalize_lower(s),
            raw: s.to_string(),
        }
    }
}

/// The key threads are grouped by: the base subject without diacritics, so that a reply typed
/// without them ("Re: bao cao") joins the thread of "Báo cáo". (SORT, by contrast, still
/// orders the two forms deterministically by the exact form.)
pub fn thread_key(subject: &str) -> String {
    fold_diacritics(&base_subject(subject))
}

/// Reply/forward leaders removed from the start of a subject (compared case-insensitively).
const LEADERS: [&str; 5] = ["re", "fwd", "fw", "tl", "ct"];

/// Removes one `subj-leader` (`(subj-blob)* ("re" / "fw" / "fwd") WSP* subj-blob? ":"`) or,
/// when something would remain, one leading `subj-blob` (`[…]`). Returns None when nothing
/// was removed.
fn strip_leader(s: &str) -> Option<&str> {
    // Leading blobs before a leader.
    let mut rest = s;
    loop {
        let trimmed = rest.trim_start();
        match blob_end(trimmed) {
            Some(end) => rest = &trimmed[end..],
            None => break,
        }
    }
    let trimmed = rest.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    for leader in LEADERS {
        if let Some(after) = lower.strip_prefix(leader) {
            let mut pos = trimmed.len() - after.len();
            let mut tail = trimmed[pos..].trim_start();
            pos = trimmed.len() - tail.len();
            if let Some(end) = blob_end(tail) {
                pos += end;
                tail = &trimmed[pos..];
            }
            if let Some(body) = tail.strip_prefix(':') {
                return Some(body);
            }
        }
    }
    // A lone blob, removed only if text remains after it (RFC 5256 §2.1 step 5).
    let trimmed = s.trim_start();
    if let Some(end) = blob_end(trimmed) {
        let after = &trimmed[end..];
        if !after.trim().is_empty() {
            return Some(after);
        }
    }
    None
}

/// Length of a `[…]` blob (no nested brackets) at the start of `s`.
fn blob_end(s: &str) -> Option<usize> {
    if !s.starts_with('[') {
        return None;
    }
    let close = s.find(']')?;
    if s[1..close].contains('[') {
        return None;
    }
    Some(close + 1)
}

/// RFC 5256 §2.1: the base subject, with whitespace collapsed.
pub fn base_subject(subject: &str) -> String {
    // Step 1: collapse every run of whitespace to one space.
    let mut s: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        // Step 2: remove trailing "(fwd)" and whitespace, repeatedly.
        loop {
            let t = s.trim_end();
            let lower = t.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else {
                s = t.to_string();
                break;
            }
        }
        // Steps 3–5: leaders and blobs, repeatedly.
        while let Some(rest) = strip_leader(&s) {
            s = rest.trim_start().to_string();
        }
        // Step 6: "[fwd: … ]" wrapped subjects.
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_string();
            continue;
        }
        return s;
    }
}

/// Whether the subject shows the message is a reply or forward (RFC 5256 §3 REFERENCES step 5).
pub fn is_reply_or_forward(subject: &str) -> bool {
    let collapsed: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = collapsed.to_ascii_lowercase();
    strip_leader(&collapsed).is_some_and(|_| {
        let t = lower.trim_start();
        LEADERS.iter().any(|l| t.starts_with(l)) || t.starts_with('[')
    }) || lower.trim_end().ends_with("(fwd)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(base_subject("Re: Kế hoạch"), "Kế hoạch");
        assert_eq!(base_subject("RE: re:  Fwd:   Kế   hoạch (fwd)"), "Kế hoạch");
        assert_eq!(base_subject("Re[2]: báo cáo"), "báo cáo");
        assert_eq!(base_subject("[Sở TT] Re: báo cáo"), "báo cáo");
        assert_eq!(base_subject("[Fwd: Lịch họp]"), "Lịch họp");
        assert_eq!(base_subject("TL: CT: Giấy mời"), "Giấy mời");
        assert_eq!(base_subject("[only blob]"), "[only blob]");
        assert_eq!(base_subject("Reply needed"), "Reply needed");
        assert_eq!(base_subject(""), "");
        assert!(is_reply_or_forward("Re: x"));
        assert!(is_reply_or_forward("x (fwd)"));
        assert!(!is_reply_or_forward("Report"));
    }

    #[test]
    fn vietnamese_collation() {
        let mut names = vec![
            "Nguyễn Văn B",
            "nguyen van a",
            "Đặng Thị Hương",
            "Bùi",
            "Nguyen Van B",
        ];
        names.sort_by_key(|n| Collated::new(n));
        assert_eq!(
            names,
            vec![
                "Bùi",
                "Đặng Thị Hương",
                "nguyen van a",
                "Nguyen Van B",
                "Nguyễn Văn B"
            ]
        );
    }
}
