//! Phrases that mark unsolicited mail, Vietnamese and English (R-POL-5), written the way they
//! are read. A phrase matches lowercased NFC text as written, or folded
//! (`congvu_core::fold::fold_diacritics`) where the text itself has no diacritics: "TRÚNG
//! THƯỞNG", "trúng thưởng" and "trung thuong" all match "trúng thưởng". Folding only the phrase,
//! not the text, keeps "cả cuộc họp" from matching "cá cược": both fold to "ca cuoc".
//! Matching is on whole words: "casino" does not match inside "casinos".
//!
//! The lists avoid the words of ordinary official mail: "mật khẩu", "tài khoản", "thông báo",
//! "hội nghị", "giấy mời" are all absent, so password notices and meeting invitations from
//! the province's own units never score here.

use congvu_core::fold::{fold_diacritics, normalize_lower};
use std::sync::OnceLock;

/// Vietnamese: prizes, quick loans, get-rich offers, gambling, miracle products, phishing.
pub const VIETNAMESE: &[&str] = &[
    "trúng thưởng",
    "đã trúng",
    "nhận thưởng ngay",
    "mã trúng thưởng",
    "quà tặng miễn phí",
    "nhận quà ngay",
    "vay tiền nhanh",
    "vay tiền online",
    "vay tín chấp",
    "giải ngân nhanh",
    "giải ngân trong ngày",
    "không cần thế chấp",
    "lãi suất thấp",
    "khuyến mãi",
    "khuyến mại",
    "giảm giá sốc",
    "giá sốc",
    "ưu đãi đặc biệt",
    "số lượng có hạn",
    "chỉ hôm nay",
    "cơ hội duy nhất",
    "miễn phí 100%",
    "kiếm tiền online",
    "kiếm tiền tại nhà",
    "việc nhẹ lương cao",
    "thu nhập khủng",
    "lợi nhuận khủng",
    "lợi nhuận cao",
    "đầu tư sinh lời",
    "nhân đôi tài khoản",
    "cá cược",
    "nhà cái",
    "xổ số",
    "lô đề",
    "tăng cường sinh lý",
    "giảm cân cấp tốc",
    "bấm vào đây",
    "nhấp vào đây",
    "click vào đây",
    "kết bạn zalo",
    "liên hệ zalo",
    "tài khoản của bạn đã bị khóa",
    "xác minh tài khoản ngay",
];

/// English: the classics of the genre.
pub const ENGLISH: &[&str] = &[
    "click here",
    "viagra",
    "cialis",
    "lottery",
    "you have won",
    "you've won",
    "claim your prize",
    "winner",
    "congratulations you",
    "100% free",
    "risk free",
    "risk-free",
    "act now",
    "limited time offer",
    "buy now",
    "order now",
    "cheap meds",
    "online pharmacy",
    "make money fast",
    "work from home",
    "earn extra cash",
    "double your income",
    "no credit check",
    "low interest rate",
    "casino",
    "crypto investment",
    "bitcoin investment",
    "wire transfer",
    "inheritance",
    "next of kin",
    "beneficiary",
    "verify your account",
    "account has been suspended",
    "weight loss",
    "free gift",
    "dear friend",
    "urgent reply",
];

/// The listed phrases that occur in `lower` (NFC, lowercased: `congvu_core::fold::normalize_lower`),
/// each once, in list order.
pub fn find(lower: &str, list: &'static [&'static str]) -> Vec<&'static str> {
    let words = normalise(lower);
    let mut found: Vec<&'static str> = Vec::new();
    let mut folded_found: Vec<&str> = Vec::new();
    let computed;
    let forms: &[Forms] = match prepared(list) {
        Some(forms) => forms,
        None => {
            computed = forms_of(list);
            &computed
        }
    };
    for (phrase, written, folded) in forms {
        // "khuyến mãi" and "khuyến mại" are one phrase once folded: count it once.
        if (words.contains(written.as_str()) || words.contains(folded.as_str()))
            && !folded_found.contains(&folded.as_str())
        {
            found.push(phrase);
            folded_found.push(folded);
        }
    }
    found
}

/// A phrase, as written (normalised, lowercase) and folded, each with spaces around.
type Forms = (&'static str, String, String);

fn forms_of(list: &'static [&'static str]) -> Vec<Forms> {
    list.iter()
        .map(|p| {
            (
                *p,
                normalise(&normalize_lower(p)),
                normalise(&fold_diacritics(p)),
            )
        })
        .collect()
}

/// The forms of this module's lists, worked out once per process instead of per message.
fn prepared(list: &'static [&'static str]) -> Option<&'static [Forms]> {
    static VI: OnceLock<Vec<Forms>> = OnceLock::new();
    static EN: OnceLock<Vec<Forms>> = OnceLock::new();
    if std::ptr::eq(list, VIETNAMESE) {
        Some(VI.get_or_init(|| forms_of(VIETNAMESE)))
    } else if std::ptr::eq(list, ENGLISH) {
        Some(EN.get_or_init(|| forms_of(ENGLISH)))
    } else {
        None
    }
}

/// Spaces around every word, punctuation that is not part of a phrase replaced by spaces:
/// " vay tien nhanh ".
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut space = true;
    for c in text.chars() {
        let keep = c.is_alphanumeric() || matches!(c, '%' | '\'' | '-');
        if keep {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_core::fold::normalize_lower as lower;

    #[test]
    fn vietnamese_phrases_match_with_or_without_diacritics() {
        for text in [
            "Chúc mừng bạn đã TRÚNG THƯỞNG!",
            "chuc mung ban da trung thuong",
            "Trúng  thưởng\r\nlớn",
        ] {
            let hits = find(&lower(text), VIETNAMESE);
            assert!(hits.contains(&"trúng thưởng"), "{text}: {hits:?}");
        }
        let hits = find(
            &fold_diacritics("Vay tiền nhanh, lãi suất thấp, KHUYẾN MÃI"),
            VIETNAMESE,
        );
        assert_eq!(hits, ["vay tiền nhanh", "lãi suất thấp", "khuyến mãi"]);
    }

    #[test]
    fn english_phrases_match_whole_words_only() {
        let hits = find(&lower("CLICK HERE to claim: Viagra!"), ENGLISH);
        assert_eq!(hits, ["click here", "viagra"]);
        assert!(find("casinos and winners", ENGLISH).is_empty());
        // Folding applies to unmarked text only: "cả cuộc họp" is not "cá cược".
        assert!(find(&lower("Cả cuộc họp"), VIETNAMESE).is_empty());
        assert_eq!(find("ca cuoc bong da", VIETNAMESE), ["cá cược"]);
        assert_eq!(find("100% free", ENGLISH), ["100% free"]);
    }

    #[test]
    fn official_mail_does_not_match() {
        let letter = "Kính gửi các phòng ban. Sở Thông tin và Truyền thông thông báo: mật khẩu \
                      hộp thư công vụ cần đổi trước ngày 30/11. Giấy mời họp hội nghị tổng kết \
                      công tác năm 2026, tài khoản đăng nhập giữ nguyên. Trân trọng.";
        assert!(find(&lower(letter), VIETNAMESE).is_empty());
        assert!(find(&lower(letter), ENGLISH).is_empty());
    }
}
