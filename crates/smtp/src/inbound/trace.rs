//! Trace headers (RFC 5321 §4.4): `Return-Path` and our `Received` line, put on top of every
//! message before the pipeline sees it.
//!
//! Submission writes no `Return-Path` here: it is added at final delivery (RFC 5321 §4.4),
//! which for a remote recipient is the receiving system's job; `submit` puts it on the
//! copy stored for local recipients only. Its `Received` names the protocol with the `A`
//! of RFC 3848 (`ESMTPSA`) and never the login.
//!
//! Keeps true: the headers depend only on the transaction, never on one recipient, except
//! that `for <…>` is written when there is exactly one recipient; so all recipients of a
//! transaction get the same bytes and the blob is stored once. No CR, LF or control character
//! from the client (HELO name, addresses) reaches the header.

use std::net::IpAddr;

/// What the `Received` line says about the transaction.
pub(crate) struct TraceInfo<'a> {
    pub(crate) mail_from: &'a str,
    pub(crate) helo: &'a str,
    pub(crate) ip: IpAddr,
    pub(crate) hostname: &'a str,
    pub(crate) extended: bool,
    pub(crate) tls: bool,
    pub(crate) smtputf8: bool,
    /// The client logged in (submission): RFC 3848 `…A` protocol names.
    pub(crate) authenticated: bool,
    /// Write `Return-Path` (MX: we are the final delivery for every recipient).
    pub(crate) return_path: bool,
    pub(crate) id: &'a str,
    /// The recipient, when there is exactly one.
    pub(crate) single_rcpt: Option<&'a str>,
    /// RFC 5322 §3.3 date-time.
    pub(crate) date: &'a str,
}

/// Appends the trace headers to `out`.
pub(crate) fn write_trace_headers(out: &mut Vec<u8>, t: &TraceInfo<'_>) {
    // RFC 3848 / RFC 6531 §3.7.3 "with" protocol names. AUTH needs EHLO, so there is no
    // authenticated plain SMTP.
    let protocol = match (t.extended, t.smtputf8, t.tls, t.authenticated) {
        (false, _, false, _) => "SMTP",
        (false, _, true, _) => "SMTPS",
        (true, false, false, false) => "ESMTP",
        (true, false, true, false) => "ESMTPS",
        (true, false, false, true) => "ESMTPA",
        (true, false, true, true) => "ESMTPSA",
        (true, true, false, false) => "UTF8SMTP",
        (true, true, true, false) => "UTF8SMTPS",
        (true, true, false, true) => "UTF8SMTPA",
        (true, true, true, true) => "UTF8SMTPSA",
    };
    let ip = match t.ip {
        IpAddr::V4(v4) => v4.to_string(),
        // RFC 5321 §4.1.3 IPv6 address literal.
        IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    if t.return_path {
        write_return_path(out, t.mail_from);
    }
    push_clean(out, "Received: from ");
    push_clean(out, t.helo);
    // No reverse-DNS lookup is made; "unknown" says so, as Postfix does.
    push_clean(out, &format!(" (unknown [{ip}])"));
    out.extend_from_slice(b"\r\n\tby ");
    push_clean(out, t.hostname);
    push_clean(out, &format!(" with {protocol} id {}", t.id));
    if let Some(rcpt) = t.single_rcpt {
        out.extend_from_slice(b"\r\n\tfor <");
        push_clean(out, rcpt);
        out.push(b'>');
    }
    out.extend_from_slice(b";\r\n\t");
    push_clean(out, t.date);
    out.extend_from_slice(b"\r\n");
}

/// Appends `Return-Path: <mail_from>` (RFC 5321 §4.4).
pub(crate) fn write_return_path(out: &mut Vec<u8>, mail_from: &str) {
    push_clean(out, "Return-Path: <");
    push_clean(out, mail_from);
    out.extend_from_slice(b">\r\n");
}

/// Appends `text` without control characters, so it cannot break the header structure.
fn push_clean(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().filter(|b| !b.is_ascii_control()));
}

/// A transaction id for `Received` and `queued as`: 16 hex digits of randomness.
pub(crate) fn new_transaction_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The current time as an RFC 5322 date-time.
pub(crate) fn now_rfc5322() -> String {
    chrono::Utc::now().to_rfc2822()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(rcpt: Option<&'a str>) -> TraceInfo<'a> {
        TraceInfo {
            mail_from: "a@example.org",
            helo: "mx.example.org\r\nX-Injected: 1",
            ip: "192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            hostname: "mx.tinh.gov.vn",
            extended: true,
            tls: true,
            smtputf8: false,
            authenticated: false,
            return_path: true,
            id: "0123456789abcdef",
            single_rcpt: rcpt,
            date: "Thu, 1 Jan 2026 00:00:00 +0000",
        }
    }

    #[test]
    fn received_with_one_recipient_names_it() {
        let mut out = Vec::new();
        write_trace_headers(&mut out, &info(Some("b@tinh.gov.vn")));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Return-Path: <a@example.org>\r\n\
             Received: from mx.example.orgX-Injected: 1 (unknown [192.0.2.7])\r\n\
             \tby mx.tinh.gov.vn with ESMTPS id 0123456789abcdef\r\n\
             \tfor <b@tinh.gov.vn>;\r\n\
             \tThu, 1 Jan 2026 00:00:00 +0000\r\n"
        );
    }

    #[test]
    fn submission_says_esmtpsa_and_leaves_return_path_to_final_delivery() {
        let mut out = Vec::new();
        let mut t = info(None);
        t.authenticated = true;
        t.return_path = false;
        write_trace_headers(&mut out, &t);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("Received: from "), "{text:?}");
        assert!(text.contains(" with ESMTPSA id "), "{text:?}");
        t.tls = false;
        t.smtputf8 = true;
        let mut out = Vec::new();
        write_trace_headers(&mut out, &t);
        assert!(String::from_utf8_lossy(&out).contains(" with UTF8SMTPA id "));
    }

    #[test]
    fn received_without_single_recipient_has_no_for() {
        let mut out = Vec::new();
        write_trace_headers(&mut out, &info(None));
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("for <"));
        assert!(text.ends_with("id 0123456789abcdef;\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\n"));
    }
}
