//! Comparators (RFC 4790 §9, RFC 5051) and match types (RFC 5228 §2.7.1, RFC 5231) of Sieve.
//!
//! Invariant: `:matches` runs in O(value × pattern) time whatever the pattern, because a
//! user's script must not be able to stall delivery with a pathological wildcard.

use congvu_wire::sieve::{Comparator, MatchType, Matcher};
use std::cmp::Ordering;

/// Whether any value matches any key; on a `:matches` success, the wildcard captures
/// (`${0}` = the whole value, then one per `*`/`?`, RFC 5229 §3.2).
pub fn any_match(matcher: &Matcher, values: &[String], keys: &[String]) -> Option<Vec<String>> {
    match matcher.match_type {
        // RFC 5231 §4.1: :count compares the number of values with each key, numerically.
        MatchType::Count(relation) => {
            let count = values.len().to_string();
            keys.iter()
                .any(|key| relation.holds(numeric_order(&count, key)))
                .then(Vec::new)
        }
        _ => {
            for value in values {
                for key in keys {
                    if let Some(captures) = matches_one(matcher, value, key) {
                        return Some(captures);
                    }
                }
            }
            None
        }
    }
}

/// One value against one key.
pub fn matches_one(matcher: &Matcher, value: &str, key: &str) -> Option<Vec<String>> {
    let comparator = matcher.comparator;
    match matcher.match_type {
        MatchType::Is => (order(comparator, value, key) == Ordering::Equal).then(Vec::new),
        MatchType::Contains => {
            // RFC 4790 §9.1: i;ascii-numeric has no substring operation.
            if comparator == Comparator::AsciiNumeric {
                return None;
            }
            fold(comparator, value)
                .contains(fold(comparator, key).as_str())
                .then(Vec::new)
        }
        MatchType::Matches => {
            if comparator == Comparator::AsciiNumeric {
                return None;
            }
            wildcard(comparator, value, key)
        }
        MatchType::Value(relation) => relation.holds(order(comparator, value, key)).then(Vec::new),
        MatchType::Count(relation) => relation
            .holds(numeric_order(
                &usize::from(!value.is_empty()).to_string(),
                key,
            ))
            .then(Vec::new),
    }
}

/// The canonical form a comparator compares.
fn fold(comparator: Comparator, s: &str) -> String {
    match comparator {
        Comparator::Octet | Comparator::AsciiNumeric => s.to_string(),
        Comparator::AsciiCasemap => s.to_ascii_lowercase(),
        // RFC 5051 asks for titlecase after decomposition; lowercasing the NFC form gives the
        // same equivalence classes for Vietnamese (and every script without special cases).
        Comparator::UnicodeCasemap => congvu_core::fold::normalize_lower(s),
    }
}

fn order(comparator: Comparator, a: &str, b: &str) -> Ordering {
    match comparator {
        Comparator::AsciiNumeric => numeric_order(a, b),
        _ => fold(comparator, a).cmp(&fold(comparator, b)),
    }
}

/// RFC 4790 §9.1.1: the number is the leading digits; a string that does not start with a
/// digit is positive infinity, equal to every other such string.
fn numeric_order(a: &str, b: &str) -> Ordering {
    fn value(s: &str) -> Option<&str> {
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let n = s[..digits].trim_start_matches('0');
        Some(n)
    }
    match (value(a), value(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        // Compare arbitrarily long numbers without overflow: by length, then digit by digit.
        (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
    }
}

/// Pattern elements of `:matches` (RFC 5228 §2.7.1): `*`, `?`, and literal characters
/// (`\` escapes the next character).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Element {
    Star,
    One,
    Literal(char),
}

fn compile(pattern: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Element::Star,
            '?' => Element::One,
            '\\' => match chars.next() {
                Some(escaped) => Element::Literal(escaped),
                None => Element::Literal('\\'),
            },
            other => Element::Literal(other),
        });
    }
    out
}

fn same_char(comparator: Comparator, a: char, b: char) -> bool {
    match comparator {
        Comparator::Octet | Comparator::AsciiNumeric => a == b,
        Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
        Comparator::UnicodeCasemap => a == b || a.to_lowercase().eq(b.to_lowercase()),
    }
}

/// Wildcard match by dynamic programming over (value position, pattern position), then a
/// walk back through the table that gives each wildcard the shortest text that still lets
/// the rest match, leftmost first (RFC 5229 §3.2 leaves the split open; this is the
/// usual one). Values are NFC-normalised first for the Unicode comparator so that a
/// decomposed "ễ" is one character.
fn wildcard(comparator: Comparator, value: &str, pattern: &str) -> Option<Vec<String>> {
    use unicode_normalization::UnicodeNormalization;
    let (value, pattern): (String, String) = if comparator == Comparator::UnicodeCasemap {
        (value.nfc().collect(), pattern.nfc().collect())
    } else {
        (value.to_string(), pattern.to_string())
    };
    let text: Vec<char> = value.chars().collect();
    let pat = compile(&pattern);
    let (n, m) = (text.len(), pat.len());
    // can[i][j]: text[i..] matches pat[j..].
    let width = m + 1;
    let mut can = vec![false; (n + 1) * width];
    can[n * width + m] = true;
    for j in (0..m).rev() {
        can[n * width + j] = pat[j] == Element::Star && can[n * width + j + 1];
    }
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            can[i * width + j] = match pat[j] {
                Element::Star => can[i * width + j + 1] || can[(i + 1) * width + j],
                Element::One => can[(i + 1) * width + j + 1],
                Element::Literal(c) => {
                    same_char(comparator, text[i], c) && can[(i + 1) * width + j + 1]
                }
            };
        }
    }
    if !can[0] {
        return None;
    }
    let mut captures = vec![value.clone()];
    let (mut i, mut j) = (0, 0);
    while j < m {
        match pat[j] {
            Element::Star => {
                let start = i;
                while !can[i * width + j + 1] {
                    i += 1;
                }
                captures.push(text[start..i].iter().collect());
                j += 1;
            }
            Element::One => {
                captures.push(text[i].to_string());
                i += 1;
                j += 1;
            }
            Element::Literal(_) => {
                i += 1;
                j += 1;
            }
        }
    }
    Some(captures)
}

/// `:quotewildcard` (RFC 5229 §4.1.2).
pub fn quote_wildcards(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_wire::sieve::Relation;

    fn m(match_type: MatchType, comparator: Comparator) -> Matcher {
        Matcher {
            comparator,
            match_type,
        }
    }

    #[test]
    fn wildcards_capture_shortest_leftmost() {
        let matcher = m(MatchType::Matches, Comparator::AsciiCasemap);
        let caps = matches_one(&matcher, "Re: [Hội nghị] lịch họp", "*[*]*").expect("matches");
        assert_eq!(
            caps,
            vec!["Re: [Hội nghị] lịch họp", "Re: ", "Hội nghị", " lịch họp"]
        );
        let caps = matches_one(&matcher, "an+tag@x.vn", "*+*@*").expect("matches");
        assert_eq!(caps[1..], ["an", "tag", "x.vn"]);
        assert!(matches_one(&matcher, "abc", "a?c").is_some());
        assert!(matches_one(&matcher, "ac", "a?c").is_none());
        assert!(matches_one(&matcher, "a*c", "a\\*c").is_some());
        assert!(matches_one(&matcher, "abc", "a\\*c").is_none());
        assert!(matches_one(&matcher, "", "*").is_some());
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let matcher = m(MatchType::Matches, Comparator::Octet);
        let value = "a".repeat(2000);
        let pattern = "*a".repeat(200) + "b";
        let started = std::time::Instant::now();
        assert!(matches_one(&matcher, &value, &pattern).is_none());
        // Not a timing test of the product: a guard that the table is polynomial.
        assert!(started.elapsed().as_secs() < 20);
    }

    #[test]
    fn comparators() {
        let is = |c| m(MatchType::Is, c);
        assert!(matches_one(&is(Comparator::AsciiCasemap), "ABC", "abc").is_some());
        assert!(matches_one(&is(Comparator::Octet), "ABC", "abc").is_none());
        assert!(matches_one(&is(Comparator::AsciiCasemap), "HỘI", "hội").is_none());
        assert!(matches_one(&is(Comparator::UnicodeCasemap), "HỘI", "hội").is_some());
        // Decomposed input equals composed.
        assert!(matches_one(&is(Comparator::UnicodeCasemap), "ho\u{323}\u{302}i", "hội").is_some());
        let contains = m(MatchType::Contains, Comparator::UnicodeCasemap);
        assert!(matches_one(&contains, "Giấy mời HỘI NGHỊ tổng kết", "hội nghị").is_some());
        assert!(matches_one(&is(Comparator::AsciiNumeric), "007", "7").is_some());
        assert!(matches_one(&is(Comparator::AsciiNumeric), "abc", "xyz").is_some());
    }

    #[test]
    fn relational() {
        let ge = m(MatchType::Value(Relation::Ge), Comparator::AsciiNumeric);
        assert!(matches_one(&ge, "3", "3").is_some());
        assert!(matches_one(&ge, "12", "3").is_some());
        assert!(matches_one(&ge, "2", "3").is_none());
        assert!(matches_one(&ge, "99999999999999999999999", "3").is_some());
        let count = m(MatchType::Count(Relation::Gt), Comparator::AsciiNumeric);
        let values = vec!["a".to_string(), "b".to_string()];
        assert!(any_match(&count, &values, &["1".to_string()]).is_some());
        assert!(any_match(&count, &values, &["2".to_string()]).is_none());
    }
}
