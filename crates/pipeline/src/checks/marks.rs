//! R-POL-7: documents classified as state secrets — marked "MẬT", "TỐI MẬT" or "TUYỆT MẬT" —
//! must not pass through the system. A mark counts only as a *stamp*: in capitals, and either
//! alone on its line, bracketed (`[MẬT]`, `(TỐI MẬT)`, `«TUYỆT MẬT»`), heading a line before a
//! separator (`TỐI MẬT - Kế hoạch …`), or as the value of the "Độ mật:" field of official forms.
//! The ordinary words ("bí mật", "mật khẩu", "mật độ", "Mật" in a sentence) are not stamps.
//! Looked at: the subject, the body text, text attachments and the text of DOCX, XLSX, PPTX,
//! ODT and PDF attachments, in nested messages too.
//!
//! Invariant: text is NFC-normalised before matching, so decomposed Vietnamese (as cp1258 and
//! some editors produce) matches like composed.

use super::doctext::document_text;
use super::{apply_action, display_name, is_inbound};
use crate::parts::{Decoded, decode_message};
use crate::policy::MarksPolicy;
use crate::{Check, MessageView, Outcome};
use async_trait::async_trait;
use congvu_core::Reply;
use std::borrow::Cow;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The classification marks, longest first so "TỐI MẬT" is not reported as "MẬT".
pub const MARKS: [&str; 3] = ["TUYỆT MẬT", "TỐI MẬT", "MẬT"];

/// Characters that decorate a stamp without being part of it.
fn is_decoration(c: char) -> bool {
    c.is_whitespace() || "*-_=~#|.:!".contains(c)
}

/// Pairs of brackets a stamp may stand in.
const BRACKETS: [(char, char); 4] = [('[', ']'), ('(', ')'), ('«', '»'), ('{', '}')];

/// Separators after which a line-leading mark is a stamp (`TỐI MẬT - …`, `MẬT: …`).
const LEAD_SEPARATORS: [char; 5] = ['-', '–', '—', ':', '|'];

/// The mark `s` is, exactly (after collapsing inner whitespace), if any.
fn exact_mark(s: &str) -> Option<&'static str> {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    MARKS.into_iter().find(|m| *m == collapsed)
}

/// The first stamp in `text`.
pub fn find_mark(text: &str) -> Option<&'static str> {
    // Most text is ASCII or already NFC: normalising it anyway cost more than all the rest of
    // this check together (a PDF page of 20 KB).
    let text: Cow<'_, str> = if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    };
    if !has_mat(&text) {
        return None;
    }
    text.lines()
        .filter(|line| has_mat(line))
        .find_map(line_mark)
}

/// Every mark, and the "Độ mật" field, holds the syllable "mật" (NFC 'ậ' or 'Ậ'): text
/// without it has no stamp, and most lines of most letters are skipped by this one test.
fn has_mat(text: &str) -> bool {
    text.contains(['ậ', 'Ậ'])
}

fn line_mark(line: &str) -> Option<&'static str> {
    // Alone on the line, perhaps decorated: "TỐI MẬT", "** MẬT **".
    if let Some(m) = exact_mark(line.trim_matches(is_decoration)) {
        return Some(m);
    }
    // Bracketed anywhere: "[TỐI MẬT] Kế hoạch", "Báo cáo (MẬT)".
    for (open, close) in BRACKETS {
        let mut rest = line;
        while let Some(i) = rest.find(open) {
            rest = &rest[i + open.len_utf8()..];
            if let Some(j) = rest.find(close)
                && let Some(m) = exact_mark(&rest[..j])
            {
                return Some(m);
            }
        }
    }
    // Heading the line before a separator: "TUYỆT MẬT - Kế hoạch", "MẬT: Báo cáo".
    let trimmed = line.trim_start();
    for m in MARKS {
        if let Some(after) = trimmed.strip_prefix(m)
            && after.trim_start().starts_with(LEAD_SEPARATORS)
        {
            return Some(m);
        }
    }
    // The form field "Độ mật: Tối mật" (the value in any case).
    let lower = line.to_lowercase();
    if let Some(i) = lower.find("độ mật") {
        let after = lower[i + "độ mật".len()..].trim_start();
        if let Some(value) = after.strip_prefix(':') {
            let value = value.trim_matches(is_decoration).to_uppercase();
            let first_words = MARKS
                .into_iter()
                .find(|m| value == *m || value.starts_with(&format!("{m} ")));
            if first_words.is_some() {
                return first_words;
            }
        }
    }
    None
}

/// Where a mark was found, for the sentence: (Vietnamese, English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub mark: &'static str,
    pub where_vi: String,
    pub where_en: String,
}

/// The first stamp in the message `raw`.
pub fn find_in_message(raw: &[u8]) -> Option<Found> {
    find_in_decoded(&decode_message(raw))
}

/// [`find_in_message`] of a message already decoded.
pub fn find_in_decoded(decoded: &Decoded) -> Option<Found> {
    for subject in &decoded.subjects {
        if let Some(mark) = find_mark(subject) {
            return Some(Found {
                mark,
                where_vi: "tiêu đề thư".into(),
                where_en: "the subject".into(),
            });
        }
    }
    for text in &decoded.texts {
        if let Some(mark) = find_mark(text) {
            return Some(Found {
                mark,
                where_vi: "nội dung thư".into(),
                where_en: "the message text".into(),
            });
        }
    }
    for attachment in &decoded.attachments {
        let Some(text) = document_text(&attachment.data) else {
            continue;
        };
        if let Some(mark) = find_mark(&text) {
            let name = display_name(&attachment.name);
            return Some(Found {
                mark,
                where_vi: format!("tệp đính kèm «{name}»"),
                where_en: format!("the attachment «{name}»"),
            });
        }
    }
    None
}

pub fn describe(found: &Found) -> String {
    let Found {
        mark,
        where_vi,
        where_en,
    } = found;
    format!(
        "Thư mang dấu độ mật «{mark}» ở {where_vi}; tài liệu bí mật nhà nước không được gửi qua \
         hệ thống thư điện tử công vụ (R-POL-7). The message carries the state-secret mark \
         «{mark}» in {where_en} and may not be sent through this system (R-POL-7)."
    )
}

pub struct Marks {
    policy: MarksPolicy,
}

impl Marks {
    pub fn new(policy: MarksPolicy) -> Self {
        Marks { policy }
    }
}

#[async_trait]
impl Check for Marks {
    fn name(&self) -> &'static str {
        "marks"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        if !self.policy.enabled {
            return Outcome::Pass;
        }
        // Document text (PDF above all) is CPU work: off the connection tasks' threads.
        let searched = match ctx.decoded().await {
            Ok(decoded) => tokio::task::spawn_blocking(move || find_in_decoded(&decoded)).await,
            Err(e) => Err(e),
        };
        let found = match searched {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "state-secret mark check failed");
                return Outcome::Reject(Reply::new(
                    451,
                    "4.3.0",
                    "Lỗi tạm thời khi kiểm tra thư, xin gửi lại sau. \
                     Temporary failure while checking the message; please try again later.",
                ));
            }
        };
        let Some(found) = found else {
            return Outcome::Pass;
        };
        let text = describe(&found);
        if is_inbound(ctx.source) {
            // R-POL-7: the operator must remove such mail; tell them now.
            tracing::warn!(
                mark = found.mark,
                r#where = %found.where_en,
                mail_from = ctx.mail_from,
                rcpt_to = ?ctx.rcpt_to,
                remote_ip = ?ctx.remote_ip,
                "state-secret mark in an inbound message (R-POL-7)"
            );
            apply_action(self.policy.inbound, text, "R-POL-7 state-secret mark")
        } else {
            tracing::info!(
                mark = found.mark,
                r#where = %found.where_en,
                login = ?ctx.authenticated,
                "state-secret mark in a submitted message (R-POL-7)"
            );
            apply_action(self.policy.submission, text, "R-POL-7 state-secret mark")
        }
    }
}
