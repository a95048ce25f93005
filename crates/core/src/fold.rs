//! Vietnamese-aware text folding for search and address generation (R-PROTO-4).
//!
//! Invariant: every function first normalises to NFC, because mail decoded from windows-1258
//! arrives with combining tone marks, and NFD text would otherwise split words.
//! Stripping combining marks after NFD is not enough for Vietnamese: `đ`/`Đ` has no
//! decomposition, so it is mapped by hand.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFC and lowercase: the form used for searches that must match diacritics exactly.
///
/// Runs on every message body at delivery, so it avoids the normaliser when it can: ASCII is
/// only lowercased, and text already in NFC (nearly all UTF-8 mail) skips composition.
pub fn normalize_lower(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    if unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes
    {
        return text.to_lowercase();
    }
    text.nfc().flat_map(char::to_lowercase).collect()
}

/// Lowercase with every diacritic removed: "Đặng Thị Hương" → "dang thi huong".
///
/// Letters of other scripts are kept (lowercased, without their marks), so folding never
/// loses text a search could still match. Per character, without buffering iterators: this
/// runs on every message body at delivery.
pub fn fold_diacritics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            c if is_combining_mark(c) => {}
            c => unicode_normalization::char::decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            }),
        }
    }
    out
}

/// True when the text carries any Vietnamese diacritic (or `đ`), i.e. folding changes it.
/// A search query with diacritics must match them exactly; one without matches either form.
pub fn has_diacritics(text: &str) -> bool {
    let lower = normalize_lower(text);
    fold_diacritics(&lower) != lower
}

/// Fold to the ASCII alphabet used by addresses: diacritics removed, lowercase,
/// anything outside `[a-z0-9]` dropped. "Sở Thông tin" → "sothongtin".
pub fn fold_to_ascii_alnum(text: &str) -> String {
    let mut out = String::new();
    for c in fold_diacritics(text).chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&deunicode::deunicode_char(c).unwrap_or("").to_lowercase());
        }
    }
    out.retain(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold_diacritics("Đặng Thị Hương"), "dang thi huong");
        assert_eq!(fold_diacritics("Nguyễn Văn An"), "nguyen van an");
        assert_eq!(fold_diacritics("ĐƯỜNG PHỐ HÀ NỘI"), "duong pho ha noi");
    }

    #[test]
    fn folds_decomposed_input_like_precomposed() {
        let nfd: String = "Nguyễn".nfd().collect();
        assert_eq!(fold_diacritics(&nfd), "nguyen");
        assert_eq!(normalize_lower(&nfd), "nguyễn");
    }

    #[test]
    fn detects_diacritics() {
        assert!(has_diacritics("Nguyễn"));
        assert!(has_diacritics("đi"));
        assert!(!has_diacritics("nguyen"));
        assert!(!has_diacritics("NGUYEN"));
    }

    #[test]
    fn ascii_alnum() {
        assert_eq!(fold_to_ascii_alnum("Sở Thông tin"), "sothongtin");
        assert_eq!(fold_to_ascii_alnum("Phường 1 - Đông Hà"), "phuong1dongha");
    }
}
