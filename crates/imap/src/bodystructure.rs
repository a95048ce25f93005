//! ENVELOPE and BODY/BODYSTRUCTURE responses (RFC 9051 §7.5.2), written from the index stored
//! at delivery, never by re-parsing the blob (DESIGN.md "Parse a message once").
//!
//! What it keeps true: the output follows the `body` grammar of RFC 9051 §9 exactly, with
//! every string encoded by `Out::string` (quoted or literal), so stored values cannot break
//! the response.

use crate::response::Out;
use congvu_wire::mime::{BodyPart, Envelope, EnvelopeAddress, PartBody};

fn opt(out: &mut Out, v: &Option<String>) {
    out.nstring(v.as_deref().map(str::as_bytes));
}

fn addresses(out: &mut Out, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.text("NIL");
        return;
    }
    out.text("(");
    for a in list {
        out.text("(");
        opt(out, &a.name);
        out.text(" NIL ");
        opt(out, &a.mailbox);
        out.text(" ");
        opt(out, &a.host);
        out.text(")");
    }
    out.text(")");
}

/// RFC 9051 §7.5.2 ENVELOPE. Sender and Reply-To default to From, as the RFC requires of servers.
pub fn write_envelope(out: &mut Out, env: &Envelope) {
    out.text("(");
    opt(out, &env.date);
    out.text(" ");
    opt(out, &env.subject);
    out.text(" ");
    addresses(out, &env.from);
    out.text(" ");
    addresses(
        out,
        if env.sender.is_empty() {
            &env.from
        } else {
            &env.sender
        },
    );
    out.text(" ");
    addresses(
        out,
        if env.reply_to.is_empty() {
            &env.from
        } else {
            &env.reply_to
        },
    );
    out.text(" ");
    addresses(out, &env.to);
    out.text(" ");
    addresses(out, &env.cc);
    out.text(" ");
    addresses(out, &env.bcc);
    out.text(" ");
    opt(out, &env.in_reply_to);
    out.text(" ");
    opt(out, &env.message_id);
    out.text(")");
}

fn params(out: &mut Out, params: &[(String, String)]) {
    if params.is_empty() {
        out.text("NIL");
        return;
    }
    out.text("(");
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.text(" ");
        }
        out.string(k.as_bytes());
        out.text(" ");
        out.string(v.as_bytes());
    }
    out.text(")");
}

fn disposition(out: &mut Out, d: &Option<(String, Vec<(String, String)>)>) {
    match d {
        None => out.text("NIL"),
        Some((kind, p)) => {
            out.text("(");
            out.string(kind.as_bytes());
            out.text(" ");
            params(out, p);
            out.text(")");
        }
    }
}

fn language(out: &mut Out, langs: &[String]) {
    match langs {
        [] => out.text("NIL"),
        [one] => out.string(one.as_bytes()),
        many => out.string_list_or_nil(many),
    }
}

/// BODYSTRUCTURE when `extended`, BODY otherwise.
pub fn write_body(out: &mut Out, part: &BodyPart, extended: bool) {
    out.text("(");
    match &part.body {
        PartBody::Multipart(children) => {
            for child in children {
                write_body(out, child, extended);
            }
            if children.is_empty() {
                // RFC 9051 §9 body-type-mpart needs one part; an empty multipart is shown as
                // an empty text part so clients can still open the message.
                out.text("(\"text\" \"plain\" NIL NIL NIL \"7BIT\" 0 0)");
            }
            out.text(" ");
            out.string(part.media_subtype.as_bytes());
            if extended {
                out.text(" ");
                params(out, &part.params);
                out.text(" ");
                disposition(out, &part.disposition);
                out.text(" ");
                language(out, &part.language);
                out.text(" ");
                opt(out, &part.location);
            }
        }
        single_or_message => {
            out.string(part.media_type.as_bytes());
            out.text(" ");
            out.string(part.media_subtype.as_bytes());
            out.text(" ");
            params(out, &part.params);
            out.text(" ");
            opt(out, &part.content_id);
            out.text(" ");
            opt(out, &part.description);
            out.text(" ");
            out.string(part.encoding.as_bytes());
            out.text(&format!(" {}", part.body_octets));
            if let PartBody::Message(env, inner) = single_or_message {
                out.text(" ");
                write_envelope(out, env);
                out.text(" ");
                write_body(out, inner, extended);
                out.text(&format!(" {}", part.body_lines));
            } else if part.media_type.eq_ignore_ascii_case("text") {
                out.text(&format!(" {}", part.body_lines));
            }
            if extended {
                out.text(" ");
                opt(out, &part.md5);
                out.text(" ");
                disposition(out, &part.disposition);
                out.text(" ");
                language(out, &part.language);
                out.text(" ");
                opt(out, &part.location);
            }
        }
    }
    out.text(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(mt: &str, st: &str) -> BodyPart {
        BodyPart {
            media_type: mt.into(),
            media_subtype: st.into(),
            params: vec![("charset".into(), "utf-8".into())],
            content_id: None,
            description: None,
            encoding: "QUOTED-PRINTABLE".into(),
            disposition: None,
            language: vec![],
            location: None,
            md5: None,
            body_octets: 42,
            body_lines: 3,
            header_start: 0,
            body_start: 0,
            end: 0,
            body: PartBody::Single,
        }
    }

    #[test]
    fn text_and_multipart() {
        let mut attachment = leaf("application", "pdf");
        attachment.params = vec![("name".into(), "Công văn.pdf".into())];
        attachment.disposition = Some((
            "attachment".into(),
            vec![("filename".into(), "cv.pdf".into())],
        ));
        attachment.encoding = "BASE64".into();
        let mut root = leaf("multipart", "mixed");
        root.params = vec![("boundary".into(), "b".into())];
        root.body = PartBody::Multipart(vec![leaf("text", "plain"), attachment]);
        let mut out = Out::default();
        write_body(&mut out, &root, true);
        let got = String::from_utf8(out.buf).unwrap();
        assert_eq!(
            got,
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 42 3 NIL NIL NIL NIL)\
(\"application\" \"pdf\" (\"name\" {14}\r\nCông văn.pdf) NIL NIL \"BASE64\" 42 NIL (\"attachment\" (\"filename\" \"cv.pdf\")) NIL NIL) \
\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"
        );
        let mut out = Out::default();
        write_body(&mut out, &root, false);
        let got = String::from_utf8(out.buf).unwrap();
        assert!(got.ends_with(" \"mixed\")"), "{got}");
    }

    #[test]
    fn envelope_defaults_sender_to_from() {
        let env = Envelope {
            subject: Some("Hi \"you\"".into()),
            from: vec![EnvelopeAddress {
                name: Some("An".into()),
                mailbox: Some("an".into()),
                host: Some("x.vn".into()),
            }],
            ..Envelope::default()
        };
        let mut out = Out::default();
        write_envelope(&mut out, &env);
        let a = "((\"An\" NIL \"an\" \"x.vn\"))";
        assert_eq!(
            String::from_utf8(out.buf).unwrap(),
            format!("(NIL \"Hi \\\"you\\\"\" {a} {a} {a} NIL NIL NIL NIL NIL)")
        );
    }
}
