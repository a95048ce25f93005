//! MAIL FROM (RFC 5321 §4.1.1.2): open a transaction.
//!
//! Keeps true: MAIL needs a greeting first and no transaction open (§4.1.4, `503 5.5.1`); a
//! declared SIZE above the limit is refused here, before any data is sent (RFC 1870 §6.2);
//! a non-ASCII reverse-path needs the SMTPUTF8 parameter (RFC 6531 §3.4).

use std::borrow::Cow;

use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_REQUIRETLS, MAIL_SMTPUTF8, MailFrom};

use super::session::{Session, Transaction};
use crate::reply::Reply;

impl Session<'_> {
    pub(crate) fn on_mail(&mut self, from: &MailFrom<Cow<'_, str>>) -> Reply {
        if self.helo.is_none() {
            return Reply::new(503, "5.5.1", "Send EHLO or HELO first");
        }
        if self.tx.is_some() {
            return Reply::new(503, "5.5.1", "Nested MAIL command");
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
        self.tx = Some(Transaction {
            mail_from: from.address.to_string(),
            smtputf8,
            rcpts: Vec::new(),
            bdat: None,
        });
        Reply::new(250, "2.1.0", "Ok")
    }
}
