//! The words the Bayes classifier counts (R-POL-5), taken from the message index built at
//! delivery (`congvu_wire::mime`): the subject, the sender's domain, the text of the body (HTML
//! reduced to text) and the hosts of the links in it.
//!
//! Keeps true:
//! - Text is folded (`congvu_core::fold::fold_diacritics`: lowercase, no diacritics, đ → d), so
//!   "khuyến mãi", "KHUYẾN MÃI" and "khuyen mai" are the same token — spammers drop the marks to
//!   dodge filters, and users type without them.
//! - Vietnamese writes one syllable per word, so pairs of neighbouring words are tokens too:
//!   "vay" and "nhanh" say little alone, "vay tien" and "tien nhanh" say a lot.
//! - A message gives at most [`MAX_TOKENS`] distinct tokens, so a huge message costs no more
//!   to classify or to teach than a long letter.
//! - Tokens leave this module as 64-bit BLAKE3 hashes: the store never keeps the words.
//!
//! Training (IMAP, from the stored index) and classification (SMTP, from the fresh index) call
//! the same [`message_tokens`], so they count the same things.

use congvu_wire::mime::MessageIndex;
use std::collections::HashSet;

/// Distinct tokens taken from one message, subject first (SpamBayes uses about as many clues).
pub const MAX_TOKENS: usize = 1500;
/// Words shorter or longer than this are skipped (a syllable of one letter carries no meaning;
/// a 40-letter "word" is a hash or base64 and would only fill the table).
const MIN_WORD: usize = 2;
const MAX_WORD: usize = 24;

/// The distinct token hashes of a message.
pub fn message_tokens(index: &MessageIndex) -> Vec<i64> {
    let mut out = Tokens::default();
    let folded = &index.search_folded;
    words(&folded.subject, "s:", &mut out);
    if let Some(domain) = folded
        .from
        .rsplit('@')
        .next()
        .map(|d| d.trim_end_matches('>'))
        && !domain.is_empty()
        && folded.from.contains('@')
    {
        out.push(&format!("from:{}", domain.trim()));
    }
    for host in super::rules::url_hosts(&folded.body) {
        out.push(&format!("url:{host}"));
    }
    words(&folded.body, "", &mut out);
    out.hashes
}

/// The tokens as text, for tests and for looking at what the classifier sees.
pub fn text_tokens(text: &str) -> Vec<String> {
    let mut out = Tokens {
        keep_text: true,
        ..Tokens::default()
    };
    words(&congvu_core::fold::fold_diacritics(text), "", &mut out);
    out.texts
}

#[derive(Default)]
struct Tokens {
    seen: HashSet<i64>,
    hashes: Vec<i64>,
    keep_text: bool,
    texts: Vec<String>,
}

impl Tokens {
    fn full(&self) -> bool {
        self.hashes.len() >= MAX_TOKENS
    }

    fn push(&mut self, token: &str) {
        if self.full() {
            return;
        }
        let h = hash(token);
        if self.seen.insert(h) {
            self.hashes.push(h);
            if self.keep_text {
                self.texts.push(token.to_string());
            }
        }
    }
}

/// The token's hash: the first 8 bytes of its BLAKE3 hash.
pub fn hash(token: &str) -> i64 {
    let digest = blake3::hash(token.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

/// Words and pairs of neighbouring words of already folded `text`, each prefixed by `prefix`.
fn words(text: &str, prefix: &str, out: &mut Tokens) {
    let mut previous: Option<&str> = None;
    for word in text.split(|c: char| !c.is_alphanumeric() && c != '$') {
        if out.full() {
            return;
        }
        let len = word.chars().count();
        if !(MIN_WORD..=MAX_WORD).contains(&len) || word.chars().all(|c| c.is_ascii_digit()) {
            // A number or a skipped word breaks the pair: "vay 50 trieu" is not "vay trieu".
            previous = None;
            continue;
        }
        out.push(&format!("{prefix}{word}"));
        if let Some(p) = previous {
            out.push(&format!("{prefix}{p} {word}"));
        }
        previous = Some(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_diacritics_and_pairs_syllables() {
        let a = text_tokens("Chương trình KHUYẾN MÃI lớn");
        assert_eq!(
            a,
            [
                "chuong",
                "trinh",
                "chuong trinh",
                "khuyen",
                "trinh khuyen",
                "mai",
                "khuyen mai",
                "lon",
                "mai lon"
            ]
        );
        let b = text_tokens("khuyen mai");
        assert!(b.contains(&"khuyen mai".to_string()));
    }

    #[test]
    fn skips_numbers_single_letters_and_long_runs() {
        let t = text_tokens("vay 50 triệu ở đây a aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=");
        assert_eq!(t, ["vay", "trieu", "day"]);
    }

    #[test]
    fn same_tokens_from_either_spelling_of_a_message() {
        let one = congvu_wire::mime::parse_message(
            "Subject: Khuyến mãi\r\nFrom: a@spam.example\r\n\r\nVay tiền nhanh\r\n".as_bytes(),
        );
        let two = congvu_wire::mime::parse_message(
            b"Subject: khuyen mai\r\nFrom: b@spam.example\r\n\r\nvay tien nhanh\r\n",
        );
        assert_eq!(message_tokens(&one), message_tokens(&two));
    }

    #[test]
    fn caps_the_number_of_tokens() {
        let body: String = (0..5000).map(|i| format!("w{i}x ")).collect();
        let raw = format!("Subject: x\r\n\r\n{body}\r\n");
        let index = congvu_wire::mime::parse_message(raw.as_bytes());
        assert_eq!(message_tokens(&index).len(), MAX_TOKENS);
    }
}
