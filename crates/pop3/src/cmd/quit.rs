//! QUIT (RFC 1939 §6): from TRANSACTION, the UPDATE state — the messages marked with DELE are
//! removed — then the connection closes. (QUIT in AUTHORIZATION is in `session.rs`.)
//!
//! Keeps true: only the UIDs this session marked are flagged `\Deleted` and expunged; when the
//! store fails the reply is `-ERR` (RFC 1939 §6 allows it) and says that some messages may
//! remain, and the maildrop lock is released either way when the session ends.

use crate::reply::{Code, Reply};
use crate::session::{Authorization, Next, Session, State};

impl Session<'_> {
    pub(crate) async fn on_quit(&mut self, out: &mut Vec<u8>) -> Next {
        let state = std::mem::replace(
            &mut self.state,
            State::Authorization(Authorization::default()),
        );
        let State::Transaction(maildrop) = state else {
            self.state = state;
            Reply::ok("Goodbye.").write_to(out);
            return Next::Close;
        };
        self.state = State::Update(maildrop);
        let State::Update(maildrop) = &self.state else {
            return Next::Close;
        };
        let marked = maildrop.marked_uids().len();
        match maildrop.commit_deletions(self.ctx.store.as_ref()).await {
            Ok(removed) => {
                let count = maildrop.len().saturating_sub(removed);
                Reply::ok(format!(
                    "{} signing off; {removed} messages deleted, {count} left.",
                    self.ctx.config.hostname
                ))
                .write_to(out);
            }
            Err(error) => {
                tracing::warn!(%error, account = %maildrop.account.address, "pop3 update failed");
                Reply::err_code(
                    Code::SysTemp,
                    format!(
                        "Some of the {marked} messages you deleted could not be removed; \
                         they will be there next time."
                    ),
                )
                .write_to(out);
            }
        }
        Next::Close
    }
}
