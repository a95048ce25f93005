//! CAPABILITY (RFC 9051 §6.1.1) and ENABLE (RFC 5161, RFC 7162 §3.2.3).
//!
//! What it keeps true: LOGINDISABLED is advertised, and AUTH=PLAIN/AUTH=LOGIN withheld, exactly when
//! LOGIN/AUTHENTICATE would be refused for lack of TLS (RFC 9051 §6.2.3, RFC 8314).

use crate::done::Done;
use crate::response::Out;
use crate::session::Session;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;

/// Whether this connection may authenticate in clear text.
pub fn plaintext_auth_allowed(session: &Session) -> bool {
    session.io.is_tls()
        || (session.ctx.config.allow_plaintext_auth_on_loopback
            && session.io.peer.ip().is_loopback())
}

pub fn capabilities(session: &Session) -> String {
    // RFC 9051 Appendix E: both revisions are offered; a client turns on rev2 behaviour with
    // ENABLE IMAP4rev2 (RFC 9051 §6.3.1).
    let mut caps = vec!["IMAP4rev1".to_string(), "IMAP4rev2".to_string()];
    if session.is_authenticated() {
        caps.extend(
            [
                "IDLE",
                "NAMESPACE",
                "UIDPLUS",
                "MOVE",
                "SPECIAL-USE",
                "UNSELECT",
                "CHILDREN",
                "LITERAL+",
                "ENABLE",
                "ID",
                "UTF8=ACCEPT",
                "CONDSTORE",
                "QRESYNC",
                "ESEARCH",
                "SEARCHRES",
                "SORT",
                "THREAD=ORDEREDSUBJECT",
                "THREAD=REFERENCES",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "CREATE-SPECIAL-USE",
                "STATUS=SIZE",
                "BINARY",
                "MULTIAPPEND",
                "ACL",
                "RIGHTS=kxte",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "COMPRESS=DEFLATE",
            ]
            .map(str::to_string),
        );
        caps.push(format!("APPENDLIMIT={}", session.ctx.config.max_literal));
    } else {
        caps.extend(["LITERAL+", "ENABLE", "ID", "SASL-IR"].map(str::to_string));
        if !session.io.is_tls() && session.ctx.tls.is_some() {
            caps.push("STARTTLS".to_string());
        }
        if plaintext_auth_allowed(session) {
            caps.push("AUTH=PLAIN".to_string());
            // draft-murchison-sasl-login: Outlook offers only LOGIN to IMAP servers.
            caps.push("AUTH=LOGIN".to_string());
        } else {
            caps.push("LOGINDISABLED".to_string());
        }
    }
    caps.join(" ")
}

/// ENABLE (RFC 5161): UTF8=ACCEPT (RFC 6855), CONDSTORE and QRESYNC (RFC 7162 §3.2.3:
/// QRESYNC implies CONDSTORE). Others are ignored as RFC 5161 §3.1 requires; ENABLED lists
/// only what this command newly turned on.
pub fn enable(out: &mut Out, requested: &[CapabilityEnable<'_>]) -> Done {
    let mut enabled: Vec<&str> = Vec::new();
    for cap in requested {
        match cap {
            CapabilityEnable::Utf8(_) => {
                if !out.utf8 {
                    out.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
            }
            CapabilityEnable::CondStore => {
                if !out.condstore {
                    out.condstore = true;
                    enabled.push("CONDSTORE");
                }
            }
            other => {
                let name = other.to_string();
                if name.eq_ignore_ascii_case("QRESYNC") && !out.qresync {
                    out.qresync = true;
                    out.condstore = true;
                    enabled.push("QRESYNC");
                } else if name.eq_ignore_ascii_case("IMAP4rev2") && !out.rev2 {
                    // RFC 9051 §6.3.1: ESEARCH answers, no RECENT, UTF-8 mailbox names.
                    out.rev2 = true;
                    out.utf8 = true;
                    enabled.push("IMAP4rev2");
                }
            }
        }
    }
    if !enabled.is_empty() {
        out.untagged(&format!("ENABLED {}", enabled.join(" ")));
    } else {
        out.untagged("ENABLED");
    }
    Done::ok("ENABLE completed")
}
