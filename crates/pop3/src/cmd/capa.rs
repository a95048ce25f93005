//! CAPA (RFC 2449 §5): the capabilities in the current state.
//!
//! Keeps true: the list tells the truth for this connection at this moment — STLS only when
//! TLS is configured and not yet in use (RFC 2595 §4), USER and SASL PLAIN only when a
//! password may be sent now (before TLS they are left out, so clients negotiate STLS first).

use crate::reply::Reply;
use crate::session::{Session, State};

impl Session<'_> {
    pub(crate) fn write_capabilities(&self, out: &mut Vec<u8>) {
        Reply::ok("Capability list follows").write_to(out);
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if let State::Authorization(_) = self.state {
            if self.ctx.tls.is_some() && !self.tls {
                lines.push("STLS");
            }
            if self.plaintext_auth_allowed() {
                lines.push("USER");
                lines.push("SASL PLAIN");
            }
        }
        lines.push("IMPLEMENTATION congvu");
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(crate::stuffing::TERMINATOR);
    }
}
