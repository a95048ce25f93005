//! STARTTLS (RFC 3207): switch the connection to TLS.
//!
//! Keeps true: offered and accepted only when TLS is configured and not yet in TLS (§4);
//! the `220` is the last plain-text byte we send; the session then starts again from before
//! EHLO and drops whatever the client pipelined after STARTTLS (§4.2, the plain-text command
//! injection of CVE-2011-0411) — see `session::run_connection`.

use super::session::{Session, Step};
use crate::reply::{Reply, write_reply};

impl Session<'_> {
    pub(crate) fn on_starttls(&mut self, out: &mut Vec<u8>) -> Step {
        if self.tls {
            return Step::Reply(Reply::new(503, "5.5.1", "Already in TLS"));
        }
        if self.ctx.tls.is_none() {
            return Step::Reply(Reply::new(502, "5.5.1", "STARTTLS not available"));
        }
        self.tx = None;
        write_reply(out, 220, "2.0.0", "Ready to start TLS");
        Step::StartTls
    }
}
