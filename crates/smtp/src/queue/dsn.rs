//! Delivery status notifications (RFC 3464): the message that tells a sender that mail
//! failed (`Action: failed`) or is late (`Action: delayed`).
//!
//! Shape (RFC 6522 multipart/report, report-type=delivery-status):
//! 1. text/plain, UTF-8: an explanation in Vietnamese, then in English;
//! 2. message/delivery-status: per-message fields (Reporting-MTA, Arrival-Date), then one
//!    block per recipient (Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
//!    Last-Attempt-Date, and Will-Retry-Until for delays);
//! 3. text/rfc822-headers: the original header section (RFC 3462 §2; never the body, so a
//!    bounce cannot be used to reflect content at a third party).
//!
//! Keeps true: the notice is sent with the null reverse-path (RFC 5321 §4.5.5) and carries
//! `Auto-Submitted: auto-replied` (RFC 3834), so receivers never answer it; the caller never
//! makes a notice about a message whose sender was null (no bounce of a bounce).

use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
}

/// One recipient's line of the report.
#[derive(Debug, Clone)]
pub struct DsnRecipient {
    pub address: String,
    /// RFC 3463 status, e.g. "5.1.1".
    pub status: String,
    pub remote_mta: Option<String>,
    /// The remote reply or our own reason, one line.
    pub diagnostic: String,
}

pub struct DsnInput<'a> {
    pub action: DsnAction,
    pub reporting_mta: &'a str,
    /// The original sender, to whom the notice goes.
    pub to: &'a str,
    pub arrival_date: i64,
    pub last_attempt: i64,
    /// For delays: when we give up.
    pub retry_until: Option<i64>,
    pub recipients: &'a [DsnRecipient],
    /// The original message (only its header section is included).
    pub original: &'a [u8],
    /// Random token for the Message-ID and boundary.
    pub token: &'a str,
}

fn rfc5322_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// The header section of `raw` (up to and including the empty line), or all of it.
pub fn header_section(raw: &[u8]) -> &[u8] {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => raw.len(),
    };
    &raw[..end]
}

/// A status taken from the start of a reply ("550 5.1.1 …" → "5.1.1"), else `fallback`.
pub fn status_of(reply: &str, fallback: &str) -> String {
    reply
        .split_whitespace()
        .nth(1)
        .filter(|s| {
            let parts: Vec<&str> = s.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| fallback.to_string())
}

fn encoded_subject(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

fn human_text(input: &DsnInput<'_>) -> String {
    let mut list = String::new();
    for r in input.recipients {
        list.push_str(&format!("  <{}>: {}\r\n", r.address, r.diagnostic));
    }
    match input.action {
        DsnAction::Failed => format!(
            "Đây là thông báo tự động của hệ thống thư điện tử {mta}.\r\n\
             \r\n\
             Thư của bạn KHÔNG gửi được tới người nhận dưới đây; hệ thống đã dừng gửi.\r\n\
             \r\n{list}\r\n\
             This is an automatic message from the mail system at {mta}.\r\n\
             \r\n\
             Your message could NOT be delivered to the recipients below; delivery has stopped.\r\n\
             \r\n{list}",
            mta = input.reporting_mta
        ),
        DsnAction::Delayed => {
            let until = input.retry_until.map(rfc5322_date).unwrap_or_default();
            format!(
                "Đây là thông báo tự động của hệ thống thư điện tử {mta}.\r\n\
                 \r\n\
                 Thư của bạn CHƯA gửi được tới người nhận dưới đây. Hệ thống vẫn đang thử lại\r\n\
                 đến {until}; bạn chưa cần gửi lại.\r\n\
                 \r\n{list}\r\n\
                 This is an automatic message from the mail system at {mta}.\r\n\
                 \r\n\
                 Your message has NOT yet been delivered to the recipients below. The system\r\n\
                 keeps trying until {until}; you do not need to send it again.\r\n\
                 \r\n{list}",
                mta = input.reporting_mta
            )
        }
    }
}

/// Builds the whole notice, CRLF line ends.
pub fn build_dsn(input: &DsnInput<'_>) -> Vec<u8> {
    let boundary = format!("=_congvu_dsn_{}", input.token);
    let (subject, action) = match input.action {
        DsnAction::Failed => (
            "Thư không gửi được / Undelivered mail returned to sender",
            "failed",
        ),
        DsnAction::Delayed => ("Thư đang bị chậm / Delayed mail (still trying)", "delayed"),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <dsn.{token}@{mta}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated delivery status notification.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n",
        mta = input.reporting_mta,
        to = input.to,
        subject = encoded_subject(subject),
        date = rfc5322_date(input.last_attempt),
        token = input.token,
    ));
    let text = base64::engine::general_purpose::STANDARD.encode(human_text(input));
    for line in text.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {mta}\r\n\
         Arrival-Date: {arrival}\r\n",
        mta = input.reporting_mta,
        arrival = rfc5322_date(input.arrival_date),
    ));
    for r in input.recipients {
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {address}\r\n\
             Action: {action}\r\n\
             Status: {status}\r\n",
            address = r.address,
            status = r.status,
        ));
        if let Some(mta) = &r.remote_mta {
            out.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        out.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\n\
             Last-Attempt-Date: {}\r\n",
            r.diagnostic.replace(['\r', '\n'], " "),
            rfc5322_date(input.last_attempt)
        ));
        if let (DsnAction::Delayed, Some(until)) = (input.action, input.retry_until) {
            out.push_str(&format!("Will-Retry-Until: {}\r\n", rfc5322_date(until)));
        }
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    ));
    let mut bytes = out.into_bytes();
    let headers = header_section(input.original);
    bytes.extend_from_slice(headers);
    if !headers.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_report_has_the_three_parts() {
        let original = b"From: a@tinh.gov.vn\r\nSubject: Hello\r\n\r\nsecret body\r\n";
        let recipients = [DsnRecipient {
            address: "nobody@far.example".into(),
            status: status_of("550 5.1.1 No such user", "5.0.0"),
            remote_mta: Some("mx.far.example".into()),
            diagnostic: "550 5.1.1 No such user".into(),
        }];
        let dsn = build_dsn(&DsnInput {
            action: DsnAction::Failed,
            reporting_mta: "mail.tinh.gov.vn",
            to: "a@tinh.gov.vn",
            arrival_date: 1_800_000_000,
            last_attempt: 1_800_000_060,
            retry_until: None,
            recipients: &recipients,
            original,
            token: "abc",
        });
        let text = String::from_utf8(dsn).expect("utf8");
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(text.contains("\r\nReporting-MTA: dns; mail.tinh.gov.vn\r\n"));
        assert!(text.contains(
            "\r\nFinal-Recipient: rfc822; nobody@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"));
        assert!(text.contains(
            "Content-Type: text/rfc822-headers\r\n\r\nFrom: a@tinh.gov.vn\r\nSubject: Hello\r\n"
        ));
        assert!(!text.contains("secret body"), "the body is not returned");
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.ends_with("--=_congvu_dsn_abc--\r\n"));
        // The message parses as a multipart with three parts.
        let parsed = mail_parser::MessageParser::default()
            .parse(text.as_bytes())
            .expect("parse");
        assert_eq!(parsed.parts.len(), 4, "root + 3 parts");
        let human = parsed.body_text(0).expect("text part");
        assert!(human.contains("KHÔNG gửi được") && human.contains("could NOT be delivered"));
    }

    #[test]
    fn statuses_come_from_enhanced_codes_only() {
        assert_eq!(status_of("452 4.2.2 Mailbox full", "4.0.0"), "4.2.2");
        assert_eq!(status_of("550 No", "5.0.0"), "5.0.0");
        assert_eq!(status_of("550 5.x.1 No", "5.0.0"), "5.0.0");
        assert_eq!(status_of("", "4.4.1"), "4.4.1");
        assert_eq!(header_section(b"A: b\n\nbody"), b"A: b\n\n");
        assert_eq!(header_section(b"A: b"), b"A: b");
    }
}
