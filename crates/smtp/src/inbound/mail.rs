//! MAIL FROM (RFC 5321 §4.1.1.2): open a transaction.
//!
//! Keeps true: MAIL needs a greeting first and no transaction open (§4.1.4, `503 5.5.1`); a
//! declared SIZE above the limit is refused here, before any data is sent (RFC 1870 §6.2);
//! a non-ASCII reverse-path needs the SMTPUTF8 parameter (RFC 6531 §3.4).
//! Submission (RFC 6409 §4.1) also needs TLS and then AUTH first (`530 5.7.0`, on loopback
//! too), a sender the login may use (`sender`), and a login under its hourly limit
//! (`450 4.7.1`, `limits`).

use std::borrow::Cow;
use std::time::Instant;

use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_REQUIRETLS, MAIL_SMTPUTF8, MailFrom};

use super::sender::{Origin, SendAs};
use super::session::{Mode, Session, Transaction};
use crate::reply::Reply;

impl Session<'_> {
    pub(crate) async fn on_mail(&mut self, from: &MailFrom<Cow<'_, str>>) -> Reply {
        if self.helo.is_none() {
            return Reply::new(503, "5.5.1", "Send EHLO or HELO first");
        }
        if self.tx.is_some() {
            return Reply::new(503, "5.5.1", "Nested MAIL command");
        }
        if self.mode == Mode::Submission {
            if !self.tls {
                return Reply::new(530, "5.7.0", "Must issue a STARTTLS command first");
            }
            if self.login.is_none() {
                return Reply::new(530, "5.7.0", "Authentication required");
            }
        }
        if from.size as u64 > self.ctx.config.max_message_size {
            return Reply::new(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            );
        }
        // Extensions we do not advertise may not be used (RFC 5321 §4.1.1.11).
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return Reply::new(555, "5.5.4", "BODY=BINARYMIME is not supported");
        }
        if from.flags & MAIL_REQUIRETLS != 0 {
            return Reply::new(555, "5.5.4", "REQUIRETLS is not supported");
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !from.address.is_ascii() {
            return Reply::new(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8");
        }
        if from.address.chars().any(|c| c.is_control()) {
            return Reply::new(501, "5.1.7", "Invalid sender address");
        }
        let mut sent_as_kept = false;
        if let Some(login) = self.login.clone() {
            match self
                .check_send_as(&login, &from.address, Origin::Envelope)
                .await
            {
                Ok(SendAs::Own) => {}
                Ok(SendAs::Kept) => sent_as_kept = true,
                Err(reply) => return reply,
            }
            if let Some(reply) = self.over_hourly_limit(&login.address) {
                return reply;
            }
        }
        self.tx = Some(Transaction {
            mail_from: from.address.to_string(),
            smtputf8,
            rcpts: Vec::new(),
            bdat: None,
            sent_as_kept,
        });
        Reply::new(250, "2.1.0", "Ok")
    }
}

impl Session<'_> {
    /// The `450 4.7.1` refusing a new message when `login` has used its hourly allowance.
    /// The count is taken for real when the message is stored (`submit`); this early check
    /// spares the client sending a message that would be refused.
    pub(crate) fn over_hourly_limit(&self, login: &str) -> Option<Reply> {
        let limit = self.ctx.config.submission.max_messages_per_hour;
        let sent = self.ctx.limits.sent_in_last_hour(login, Instant::now());
        (sent >= limit as usize).then(|| hourly_limit_reply(login, limit))
    }
}

pub(crate) fn hourly_limit_reply(login: &str, limit: u32) -> Reply {
    Reply::new(
        450,
        "4.7.1",
        format!(
            "Sending limit reached: <{login}> may send {limit} messages per hour; try again later"
        ),
    )
}
