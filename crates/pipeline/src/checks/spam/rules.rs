//! The rules of the spam score (R-POL-5): each looks at one property of the message and, when
//! it holds, adds its score. The scores are SpamAssassin's order of magnitude, tuned so that no
//! single rule of the header or format kind reaches the Junk threshold (5) on its own, and an
//! ordinary letter with missing headers (a script's notice, a test message) stays below it.
//!
//! Looked at: the header section (Date and Message-ID present and well formed, RFC 5322 §3.6;
//! From against Reply-To), the subject (capitals, exclamation marks), the text (Vietnamese and
//! English spam phrases, `phrases.rs`), the links (URL shorteners, bare IP addresses), the shape
//! (HTML without a plain-text alternative) and the `Authentication-Results` (RFC 8601) that this
//! server's sender authentication added — never one that came with the message, which anyone
//! can forge.

use super::phrases;
use congvu_wire::mime::{BodyPart, MessageIndex, PartBody};

/// One rule that matched: its name (for `X-Spam-Status`) and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: &'static str,
    pub score: f64,
}

/// Per distinct phrase found, and the most phrases of one language count for.
pub const PHRASE_SCORE: f64 = 1.0;
pub const PHRASE_CAP: f64 = 7.0;

/// Hosts that only redirect elsewhere, hiding where a link goes.
pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "v.gd",
    "buff.ly",
    "cutt.ly",
    "rb.gy",
    "shorturl.at",
    "tiny.cc",
    "s.id",
    "rebrand.ly",
    "t.ly",
];

/// Everything the rules read.
pub struct Input<'a> {
    pub raw: &'a [u8],
    pub index: &'a MessageIndex,
    /// The HTML of the message's HTML body parts, as written (`parts::Decoded::html_bodies`).
    pub html: &'a [String],
    /// Header lines the pipeline's earlier checks are adding (trusted, unlike the message's own).
    pub added: &'a [String],
}

/// Every rule that matches, in a fixed order.
pub fn evaluate(input: &Input<'_>) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut hit = |name: &'static str, score: f64| hits.push(Hit { name, score });
    let headers = Headers::parse(input.raw);
    let index = input.index;

    // RFC 5322 §3.6: Date and Message-ID are expected of every message.
    match headers.first("date") {
        None => hit("MISSING_DATE", 1.0),
        Some(_) if index.sent_at.is_none() => hit("INVALID_DATE", 1.2),
        Some(_) => {}
    }
    match headers.first("message-id") {
        None => hit("MISSING_MID", 0.8),
        Some(v) if !valid_message_id(v) => hit("INVALID_MID", 1.0),
        Some(_) => {}
    }
    if headers.first("from").is_none() {
        hit("MISSING_FROM", 1.5);
    }
    if headers.first("subject").is_none_or(|s| s.trim().is_empty()) {
        hit("MISSING_SUBJECT", 0.5);
    }
    if let (Some(from), Some(reply)) = (
        index.envelope.from.first().and_then(|a| a.host.as_deref()),
        index
            .envelope
            .reply_to
            .first()
            .and_then(|a| a.host.as_deref()),
    ) && !from.eq_ignore_ascii_case(reply)
    {
        hit("REPLYTO_DOMAIN_DIFFERS", 1.0);
    }

    let subject = &index.subject;
    if all_caps(subject) {
        hit("SUBJ_ALL_CAPS", 1.0);
    }
    if subject.matches('!').count() >= 3 {
        hit("SUBJ_EXCLAIM", 1.5);
    }
    let body = &index.search_exact.body;
    if body.contains("!!!") || body.matches('!').count() >= 10 {
        hit("BODY_EXCLAIM", 1.0);
    }

    let text = format!("{}\n{}", index.search_exact.subject, body);
    let vi = phrases::find(&text, phrases::VIETNAMESE).len() as f64;
    if vi > 0.0 {
        hit("VI_SPAM_PHRASE", (vi * PHRASE_SCORE).min(PHRASE_CAP));
    }
    let en = phrases::find(&text, phrases::ENGLISH).len() as f64;
    if en > 0.0 {
        hit("EN_SPAM_PHRASE", (en * PHRASE_SCORE).min(PHRASE_CAP));
    }

    let links = link_text(input.html, body);
    let hosts = url_hosts(&links);
    if hosts.iter().any(|h| SHORTENERS.contains(&h.as_str())) {
        hit("URL_SHORTENER", 1.5);
    }
    if hosts.iter().any(|h| is_ip_literal(h)) {
        hit("URL_IP_LITERAL", 2.0);
    }
    if html_only(&index.structure) {
        hit("HTML_ONLY", 1.0);
    }

    for (method, result) in auth_results(input.added) {
        match (method.as_str(), result.as_str()) {
            ("spf", "fail") => hit("SPF_FAIL", 2.0),
            ("spf", "softfail") => hit("SPF_SOFTFAIL", 0.8),
            ("dkim", "fail") => hit("DKIM_FAIL", 1.0),
            ("dkim", "pass") => hit("DKIM_VALID", -0.2),
            ("dmarc", "fail") => hit("DMARC_FAIL", 3.0),
            ("dmarc", "pass") => hit("DMARC_PASS", -0.5),
            _ => {}
        }
    }
    hits
}

/// A subject shouting: at least 8 letters, every one a capital ("VAY TIỀN NHANH LÃI THẤP").
pub fn all_caps(subject: &str) -> bool {
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase())
}

/// RFC 5322 §3.6.4: `<left@right>`.
fn valid_message_id(value: &str) -> bool {
    let v = value.trim();
    let Some(inner) = v.strip_prefix('<').and_then(|v| v.strip_suffix('>')) else {
        return false;
    };
    match inner.split_once('@') {
        Some((left, right)) => {
            !left.is_empty()
                && !right.is_empty()
                && !inner
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
        }
        None => false,
    }
}

/// True when the message has an HTML text part and no plain-text one (RFC 2046 §5.1.4: a
/// multipart/alternative normally carries both).
pub fn html_only(part: &BodyPart) -> bool {
    let (mut plain, mut html) = (false, false);
    walk(part, &mut |p| {
        if p.media_type == "text" && p.disposition.as_ref().is_none_or(|d| d.0 != "attachment") {
            match p.media_subtype.as_str() {
                "plain" => plain = true,
                "html" => html = true,
                _ => {}
            }
        }
    });
    html && !plain
}

fn walk(part: &BodyPart, f: &mut dyn FnMut(&BodyPart)) {
    match &part.body {
        PartBody::Single => f(part),
        PartBody::Multipart(children) => children.iter().for_each(|c| walk(c, f)),
        // A forwarded message's shape is its own.
        PartBody::Message(..) => {}
    }
}

/// The text in which to look for links: the body text and the HTML of the message as written
/// (the index keeps HTML as text without its tags, and so without its `href`s).
fn link_text(html: &[String], body: &str) -> String {
    let mut out = body.to_string();
    for part in html {
        out.push('\n');
        out.push_str(&part.to_lowercase());
    }
    out
}

/// The hosts of the `http`, `https` and `www.` links in `text`, lowercased, each once.
pub fn url_hosts(text: &str) -> Vec<String> {
    const SCHEMES: [(&str, usize); 3] = [("http://", 7), ("https://", 8), ("www.", 0)];
    let lower = text.to_ascii_lowercase();
    let mut hosts: Vec<String> = Vec::new();
    let mut pos = 0;
    while hosts.len() < 100 {
        let rest = &lower[pos..];
        let Some((i, skip)) = SCHEMES
            .iter()
            .filter_map(|(prefix, skip)| rest.find(prefix).map(|i| (i, *skip)))
            .min()
        else {
            break;
        };
        let start = pos + i + skip;
        let after = &lower[start..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '@' | ':')))
            .unwrap_or(after.len());
        // Userinfo (RFC 3986 §3.2.1) is how "http://bank.vn@203.0.113.7/" hides the real host.
        let authority = &after[..end];
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("").trim_end_matches('.');
        if !host.is_empty() && !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_string());
        }
        // Step past what was read, at least one whole character.
        let step = if end > 0 {
            end
        } else {
            after.chars().next().map_or(1, char::len_utf8)
        };
        pos = start + step;
        if pos >= lower.len() {
            break;
        }
    }
    hosts
}

/// A host written as an IPv4 address ("203.0.113.7"); IPv6 literals are bracketed and end the
/// host scan early, so they show up as an empty host and are not counted.
fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// (method, result) pairs of the `Authentication-Results` lines among `added`, lowercased.
pub fn auth_results(added: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in added {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("authentication-results") {
            continue;
        }
        // RFC 8601 §2.2: authserv-id first, then `method=result` items separated by ';'.
        for item in value.split(';').skip(1) {
            let item = item.trim().to_ascii_lowercase();
            if let Some((method, rest)) = item.split_once('=') {
                let result: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                out.push((method.trim().to_string(), result));
            }
        }
    }
    out
}

/// The top-level header fields, unfolded (RFC 5322 §2.2.3), names lowercased.
struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    fn parse(raw: &[u8]) -> Headers {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in raw.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(line);
            if text.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(text.trim());
                }
                continue;
            }
            if let Some((name, value)) = text.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        Headers { fields }
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_wire::mime::parse_message;

    fn names(raw: &str, added: &[String]) -> Vec<&'static str> {
        let index = parse_message(raw.as_bytes());
        let decoded = crate::parts::decode_message(raw.as_bytes());
        evaluate(&Input {
            raw: raw.as_bytes(),
            index: &index,
            html: &decoded.html_bodies,
            added,
        })
        .into_iter()
        .map(|h| h.name)
        .collect()
    }

    const GOOD_HEAD: &str = "From: Văn phòng <vanphong@bacgiang.gov.vn>\r\n\
        To: annv@bacgiang.gov.vn\r\n\
        Subject: Giấy mời họp\r\n\
        Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n\
        Message-ID: <1@bacgiang.gov.vn>\r\n";

    #[test]
    fn a_proper_letter_matches_nothing() {
        let raw = format!("{GOOD_HEAD}\r\nKính gửi anh An, mời anh dự họp lúc 8 giờ.\r\n");
        assert!(names(&raw, &[]).is_empty(), "{:?}", names(&raw, &[]));
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            names("\r\nbody\r\n", &[]),
            [
                "MISSING_DATE",
                "MISSING_MID",
                "MISSING_FROM",
                "MISSING_SUBJECT"
            ]
        );
        let raw =
            "From: a@b.vn\r\nSubject: x\r\nDate: hôm qua\r\nMessage-ID: no-at-sign\r\n\r\nx\r\n";
        assert_eq!(names(raw, &[]), ["INVALID_DATE", "INVALID_MID"]);
    }

    #[test]
    fn reply_to_elsewhere() {
        let raw = format!("{GOOD_HEAD}Reply-To: lua@dao.example\r\n\r\nx\r\n");
        assert_eq!(names(&raw, &[]), ["REPLYTO_DOMAIN_DIFFERS"]);
        let same = format!("{GOOD_HEAD}Reply-To: VanThu@BacGiang.gov.vn\r\n\r\nx\r\n");
        assert!(names(&same, &[]).is_empty());
    }

    #[test]
    fn shouting_subjects_and_exclamations() {
        assert!(all_caps("VAY TIỀN NHANH LÃI THẤP"));
        assert!(!all_caps("Vay tiền"));
        assert!(!all_caps("UBND tỉnh"));
        assert!(!all_caps("SỞ TT"), "too short to shout");
        let raw = GOOD_HEAD.replace("Giấy mời họp", "CƠ HỘI LỚN CHO BẠN!!!");
        let raw = format!("{raw}\r\nMua ngay!!! Nhanh lên\r\n");
        assert_eq!(
            names(&raw, &[]),
            ["SUBJ_ALL_CAPS", "SUBJ_EXCLAIM", "BODY_EXCLAIM"]
        );
    }

    #[test]
    fn phrases_in_either_language_score_once_per_phrase() {
        let raw = format!(
            "{GOOD_HEAD}\r\nTrung thuong lon! Vay tien nhanh. Click here. Viagra. Viagra.\r\n"
        );
        let index = parse_message(raw.as_bytes());
        let hits = evaluate(&Input {
            raw: raw.as_bytes(),
            index: &index,
            html: &[],
            added: &[],
        });
        assert_eq!(
            hits,
            [
                Hit {
                    name: "VI_SPAM_PHRASE",
                    score: 2.0
                },
                Hit {
                    name: "EN_SPAM_PHRASE",
                    score: 2.0
                }
            ]
        );
    }

    #[test]
    fn shorteners_ip_links_and_html_only() {
        let raw = format!(
            "{GOOD_HEAD}MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <p>Xem <a href=\"https://bit.ly/abc\">tại đây</a> hoặc \
             <a href=\"http://vietcombank.vn@203.0.113.7/login\">ngân hàng</a></p>\r\n"
        );
        assert_eq!(
            names(&raw, &[]),
            ["URL_SHORTENER", "URL_IP_LITERAL", "HTML_ONLY"]
        );
        assert_eq!(
            url_hosts("see www.Example.vn/x and https://a.b:8080/ and http://a.b"),
            ["www.example.vn", "a.b"]
        );
    }

    #[test]
    fn authentication_results_only_from_this_server() {
        let forged = format!(
            "Authentication-Results: mx.example; spf=pass; dmarc=pass\r\n{GOOD_HEAD}\r\nx\r\n"
        );
        assert!(names(&forged, &[]).is_empty());
        let added = ["Authentication-Results: mail.bacgiang.gov.vn;\r\n\tspf=fail smtp.mailfrom=x@y;\r\n\tdkim=none;\r\n\tdmarc=fail (p=none) header.from=y\r\n".to_string()];
        let raw = format!("{GOOD_HEAD}\r\nx\r\n");
        assert_eq!(names(&raw, &added), ["SPF_FAIL", "DMARC_FAIL"]);
    }
}
