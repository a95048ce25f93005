//! The `Authentication-Results:` header field (RFC 8601) that records what the sender
//! authentication found, one `method=result` per check, for the reader's mail client and for
//! Sieve rules. Invariant: nothing from the peer (envelope, signature tags, error texts)
//! reaches the header unquoted: values are tokens or quoted strings (§2.2), comments lose
//! their parentheses, and no CR or LF can start a new header line.

use mail_auth::dkim::DkimError;
use mail_auth::{
    ArcOutput, DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfOutput, SpfResult,
    dmarc::Policy as DmarcPolicy,
};

/// One `resinfo` of RFC 8601 §2.2: `method=result (comment) ptype.property=value …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: &'static str,
    pub result: &'static str,
    pub comment: Option<String>,
    pub properties: Vec<(&'static str, String)>,
}

/// The whole header field, folded one result per line, ending in CRLF.
pub fn authentication_results(authserv_id: &str, results: &[MethodResult]) -> String {
    let mut out = format!("Authentication-Results: {}", pvalue(authserv_id));
    if results.is_empty() {
        // §2.2 no-result: nothing was checked.
        out.push_str("; none");
    }
    for r in results {
        out.push_str(";\r\n\t");
        out.push_str(r.method);
        out.push('=');
        out.push_str(r.result);
        if let Some(comment) = &r.comment {
            out.push_str(" (");
            out.push_str(&comment_text(comment));
            out.push(')');
        }
        for (name, value) in &r.properties {
            out.push(' ');
            out.push_str(name);
            out.push('=');
            out.push_str(&pvalue(value));
        }
    }
    out.push_str("\r\n");
    out
}

/// RFC 8601 §2.7.2 / RFC 7208 §9.1 result names.
pub fn spf_keyword(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

/// RFC 8601 §2.7.1 result names. mail-auth calls a body hash mismatch and an expired
/// signature "neutral"; RFC 6376 (§3.7, §6.1.1) makes both a verification failure, so `fail`.
pub fn dkim_keyword(result: &DkimResult) -> &'static str {
    match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(mail_auth::Error::Dkim(
            DkimError::FailedBodyHashMatch | DkimError::SignatureExpired,
        )) => "fail",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

/// RFC 7489 §11.2 result names.
pub fn dmarc_keyword(result: &DmarcResult) -> &'static str {
    match result {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

fn dkim_error(result: &DkimResult) -> Option<String> {
    match result {
        DkimResult::Neutral(e)
        | DkimResult::Fail(e)
        | DkimResult::PermError(e)
        | DkimResult::TempError(e) => Some(e.to_string()),
        DkimResult::Pass | DkimResult::None => None,
    }
}

/// `spf=… smtp.mailfrom=…`, or `smtp.helo=…` for a null reverse-path (RFC 7208 §2.4: the
/// HELO identity is then the one checked).
pub fn spf_method(spf: &SpfOutput, mail_from: &str, helo: &str) -> MethodResult {
    let identity = if mail_from.is_empty() {
        ("smtp.helo", helo.to_string())
    } else {
        ("smtp.mailfrom", mail_from.to_string())
    };
    MethodResult {
        method: "spf",
        result: spf_keyword(spf.result()),
        comment: (!spf.domain().is_empty()).then(|| format!("domain {}", spf.domain())),
        properties: vec![identity],
    }
}

/// One `dkim=` per signature (RFC 8601 §2.7.1), `dkim=none` when the message has none.
pub fn dkim_methods(outputs: &[DkimOutput<'_>]) -> Vec<MethodResult> {
    if outputs.is_empty() {
        return vec![MethodResult {
            method: "dkim",
            result: "none",
            comment: None,
            properties: Vec::new(),
        }];
    }
    outputs
        .iter()
        .map(|o| {
            let mut properties = Vec::new();
            if let Some(sig) = o.signature() {
                properties.push(("header.d", sig.d.clone()));
                properties.push(("header.s", sig.s.clone()));
            }
            MethodResult {
                method: "dkim",
                result: dkim_keyword(o.result()),
                comment: dkim_error(o.result()),
                properties,
            }
        })
        .collect()
}

/// `dmarc=… (p=…) header.from=…` (RFC 7489 §11.2).
pub fn dmarc_method(dmarc: &DmarcOutput) -> MethodResult {
    let policy = match dmarc.policy() {
        DmarcPolicy::Reject => "reject",
        DmarcPolicy::Quarantine => "quarantine",
        DmarcPolicy::None | DmarcPolicy::Unspecified => "none",
    };
    let result = dmarc.result();
    let properties = if dmarc.domain().is_empty() {
        Vec::new()
    } else {
        vec![("header.from", dmarc.domain().to_string())]
    };
    MethodResult {
        method: "dmarc",
        result: dmarc_keyword(&result),
        comment: dmarc.dmarc_record().map(|_| format!("p={policy}")),
        properties,
    }
}

/// `arc=…` (RFC 8617 §10.1).
pub fn arc_method(arc: &ArcOutput<'_>) -> MethodResult {
    MethodResult {
        method: "arc",
        result: dkim_keyword(arc.result()),
        comment: dkim_error(arc.result()),
        properties: Vec::new(),
    }
}

/// The authserv-id of an `Authentication-Results` field value (RFC 8601 §2.2: the first item,
/// a `value` — token or quoted-string — after optional CFWS), or `None` when there is none.
pub fn authserv_id(value: &str) -> Option<String> {
    let rest = skip_cfws(value);
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut id = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(id),
                '\\' => id.extend(chars.next()),
                c => id.push(c),
            }
        }
        return None;
    }
    let id: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '(' | '"'))
        .collect();
    (!id.is_empty()).then_some(id)
}

/// `value` after leading whitespace and comments (RFC 5322 §3.2.2 CFWS; comments nest).
fn skip_cfws(value: &str) -> &str {
    let mut rest = value.trim_start();
    while rest.starts_with('(') {
        let mut depth = 0usize;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = rest[end..].trim_start();
    }
    rest
}

/// A property value: as is when it is a token or `local-part@domain` of plain characters,
/// otherwise a quoted string (RFC 8601 §2.2 `pvalue`, RFC 5322 §3.2.4).
pub fn pvalue(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.@".contains(c));
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Comment text: no control characters, no parentheses or backslashes that would end or
/// escape the comment, at most 120 characters.
fn comment_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '(' | '[' => '<',
            ')' | ']' => '>',
            '\\' => '/',
            c => c,
        })
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(method: &'static str, result: &'static str) -> MethodResult {
        MethodResult {
            method,
            result,
            comment: None,
            properties: Vec::new(),
        }
    }

    #[test]
    fn one_result_per_folded_line() {
        let mut spf = method("spf", "pass");
        spf.properties
            .push(("smtp.mailfrom", "an@good.test".into()));
        let mut dmarc = method("dmarc", "fail");
        dmarc.comment = Some("p=reject".into());
        dmarc.properties.push(("header.from", "bad.test".into()));
        let header = authentication_results("mail.example.gov.vn", &[spf, dmarc]);
        assert_eq!(
            header,
            "Authentication-Results: mail.example.gov.vn;\r\n\
             \tspf=pass smtp.mailfrom=an@good.test;\r\n\
             \tdmarc=fail (p=reject) header.from=bad.test\r\n"
        );
    }

    #[test]
    fn nothing_checked_is_none() {
        assert_eq!(
            authentication_results("mx.test", &[]),
            "Authentication-Results: mx.test; none\r\n"
        );
    }

    #[test]
    fn peer_text_cannot_break_out_of_values_or_comments() {
        assert_eq!(pvalue("an@good.test"), "an@good.test");
        assert_eq!(pvalue("a b\"c\r\nX-Evil: 1"), "\"a b\\\"cX-Evil: 1\"");
        assert_eq!(pvalue(""), "\"\"");
        let mut dkim = method("dkim", "fail");
        dkim.comment = Some("bad (sig)\r\nX-Evil: 1".into());
        let header = authentication_results("mx.test", &[dkim]);
        assert_eq!(
            header,
            "Authentication-Results: mx.test;\r\n\tdkim=fail (bad <sig>X-Evil: 1)\r\n"
        );
    }

    #[test]
    fn authserv_id_after_comments_or_quoted() {
        assert_eq!(
            authserv_id(" mx.test; spf=pass").as_deref(),
            Some("mx.test")
        );
        assert_eq!(authserv_id("mx.test 1; none").as_deref(), Some("mx.test"));
        assert_eq!(
            authserv_id(" (a (nested) comment) mx.test;").as_deref(),
            Some("mx.test")
        );
        assert_eq!(
            authserv_id(" \"mx\\.test\"; none").as_deref(),
            Some("mx.test")
        );
        assert_eq!(authserv_id("mx.test(c);").as_deref(), Some("mx.test"));
        assert_eq!(authserv_id("  ; spf=pass"), None);
        assert_eq!(authserv_id(" \"unterminated"), None);
        assert_eq!(authserv_id(" (unclosed comment mx.test"), None);
    }

    #[test]
    fn result_names_follow_the_registries() {
        assert_eq!(spf_keyword(SpfResult::SoftFail), "softfail");
        assert_eq!(spf_keyword(SpfResult::TempError), "temperror");
        assert_eq!(spf_keyword(SpfResult::None), "none");
        assert_eq!(dkim_keyword(&DkimResult::Pass), "pass");
        let body_changed = mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch);
        assert_eq!(dkim_keyword(&DkimResult::Neutral(body_changed)), "fail");
        let unparsable = mail_auth::Error::Dkim(DkimError::UnsupportedVersion);
        assert_eq!(dkim_keyword(&DkimResult::Neutral(unparsable)), "neutral");
        assert_eq!(
            dkim_keyword(&DkimResult::PermError(mail_auth::Error::ParseError)),
            "permerror"
        );
        assert_eq!(
            dmarc_keyword(&DmarcResult::Fail(mail_auth::Error::NotAligned)),
            "fail"
        );
        assert_eq!(dkim_methods(&[]), vec![method("dkim", "none")]);
    }
}
