//! EHLO and HELO (RFC 5321 §4.1.1.1): greet the client and list the extensions.
//!
//! Keeps true: a greeting ends any transaction in progress (§4.1.4, like RSET); STARTTLS is
//! listed only when TLS is configured and the session is not yet in TLS (RFC 3207 §4.2);
//! AUTH is listed only by submission and only inside TLS (RFC 4954 §4, RFC 8314 §3: PLAIN
//! and LOGIN send the password in the clear, so they are never offered without TLS);
//! SIZE advertises `max_message_size` (RFC 1870). smtp-proto's `EhloResponse` writes a fixed
//! greeting text, so the (few) lines are written here.

use super::session::{Helo, Mode, Session, Step};

impl Session<'_> {
    pub(crate) fn on_ehlo(&mut self, host: &str, extended: bool, out: &mut Vec<u8>) -> Step {
        let host: String = host.chars().filter(|c| !c.is_control()).collect();
        self.tx = None;
        let config = &self.ctx.config;
        let mut lines: Vec<String> = vec![format!(
            "{} Hello {} [{}]",
            config.hostname,
            host,
            self.peer.ip()
        )];
        if extended {
            lines.extend(
                [
                    "PIPELINING",
                    "8BITMIME",
                    "SMTPUTF8",
                    "ENHANCEDSTATUSCODES",
                    "CHUNKING",
                ]
                .map(String::from),
            );
            lines.push(format!("SIZE {}", config.max_message_size));
            if self.ctx.tls.is_some() && !self.tls {
                lines.push("STARTTLS".to_string());
            }
            if self.mode == Mode::Submission && self.tls {
                lines.push("AUTH PLAIN LOGIN".to_string());
            }
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            out.extend_from_slice(if i == last { b"250 " } else { b"250-" });
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.helo = Some(Helo { host, extended });
        Step::Written
    }
}
