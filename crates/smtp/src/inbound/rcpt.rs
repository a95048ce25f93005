//! RCPT TO (RFC 5321 §4.1.1.3): accept a recipient only if it is a mailbox we host, or,
//! on submission, any well-formed address of another mail system.
//!
//! Keeps true:
//! - The MX never relays: a domain outside `hosted_domains` (compared case-insensitively) is
//!   refused with `550 5.7.1`, whatever the client. Submission relays only for a logged-in
//!   user (MAIL already required AUTH), and checks hosted recipients exactly as the MX does.
//! - `postmaster@<hosted domain>` and the bare `<postmaster>` are always accepted
//!   (RFC 5321 §4.5.1): without an account of that name they reach the first Operator account.
//! - A revoked mailbox receives nothing (`550 5.2.1`); a suspended one still receives.
//! - At most `max_recipients` distinct recipients (`452 4.5.3`, §4.5.3.1.10); on submission
//!   also at most `submission.max_recipients_per_message`, also `452 4.5.3` with the limit
//!   named (temporary, so a client sends the rest in another transaction, as §4.5.3.1.10
//!   expects). A recipient given twice is accepted again but kept once, so it is delivered
//!   once.

use std::borrow::Cow;

use congvu_core::Address;
use congvu_store::{AccountId, AccountKind, AccountState};
use smtp_proto::RcptTo;

use super::deliver::store_error_reply;
use super::session::{Mode, Recipient, Session, Target};
use crate::reply::Reply;

const POSTMASTER: &str = "postmaster";

impl Session<'_> {
    pub(crate) async fn on_rcpt(&mut self, to: &RcptTo<Cow<'_, str>>) -> Reply {
        let Some(tx) = self.tx.as_ref() else {
            return Reply::new(503, "5.5.1", "Need MAIL command first");
        };
        if tx.bdat.is_some() {
            return Reply::new(503, "5.5.1", "RCPT not allowed during BDAT");
        }
        let address = to.address.as_ref();
        if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Reply::new(501, "5.1.3", "Invalid recipient address");
        }
        if !tx.smtputf8 && !address.is_ascii() {
            return Reply::new(
                553,
                "5.6.7",
                "Non-ASCII recipient address requires SMTPUTF8",
            );
        }
        if tx
            .rcpts
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(address))
        {
            return Reply::new(250, "2.1.5", "Ok");
        }
        if tx.rcpts.len() >= self.ctx.config.max_recipients {
            return Reply::new(452, "4.5.3", "Too many recipients");
        }
        if self.mode == Mode::Submission {
            let limit = self.ctx.config.submission.max_recipients_per_message;
            if tx.rcpts.len() >= limit {
                return Reply::new(
                    452,
                    "4.5.3",
                    format!(
                        "Too many recipients: at most {limit} per message; send to the others in another message"
                    ),
                );
            }
        }
        let target = match self.resolve_recipient(address).await {
            Ok(target) => target,
            Err(reply) => return reply,
        };
        if let Some(tx) = self.tx.as_mut() {
            tx.rcpts.push(Recipient {
                address: address.to_string(),
                target,
            });
        }
        Reply::new(250, "2.1.5", "Ok")
    }

    /// Decides where a recipient's copy goes, or the reply refusing it.
    async fn resolve_recipient(&self, address: &str) -> Result<Target, Reply> {
        if self.mode == Mode::Submission && !self.is_hosted(address) {
            return match Address::parse(address) {
                Ok(_) => Ok(Target::Remote),
                Err(error) => Err(Reply::new(
                    501,
                    "5.1.3",
                    format!("Invalid recipient address <{address}>: {error}"),
                )),
            };
        }
        self.resolve_local(address).await.map(Target::Local)
    }

    /// True when `address` has a domain we host (or is the bare `postmaster`).
    fn is_hosted(&self, address: &str) -> bool {
        match address.rsplit_once('@') {
            Some((_, domain)) => {
                let domain = domain.trim_end_matches('.').to_lowercase();
                self.ctx
                    .config
                    .hosted_domains
                    .iter()
                    .any(|d| d.trim_end_matches('.').to_lowercase() == domain)
            }
            None => true,
        }
    }

    /// Finds the hosted account a recipient address delivers to, or the reply refusing it.
    async fn resolve_local(&self, address: &str) -> Result<AccountId, Reply> {
        let hosted = &self.ctx.config.hosted_domains;
        let (local, domain) = match address.rsplit_once('@') {
            Some(parts) => parts,
            // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain names our postmaster.
            None if address.eq_ignore_ascii_case(POSTMASTER) => match hosted.first() {
                Some(domain) => (POSTMASTER, domain.as_str()),
                None => {
                    return Err(Reply::new(
                        550,
                        "5.1.1",
                        "<postmaster>: no such mailbox here",
                    ));
                }
            },
            None => {
                return Err(Reply::new(
                    501,
                    "5.1.3",
                    "Recipient address must have a domain",
                ));
            }
        };
        let domain = domain.trim_end_matches('.').to_lowercase();
        if !hosted
            .iter()
            .any(|d| d.trim_end_matches('.').to_lowercase() == domain)
        {
            return Err(Reply::new(
                550,
                "5.7.1",
                format!("Relaying denied: <{address}> is not in a domain hosted here"),
            ));
        }
        let canonical = format!("{}@{}", local.to_lowercase(), domain);
        let found = self
            .ctx
            .store
            .account_by_address(&canonical)
            .await
            .map_err(|e| store_error_reply(&e))?;
        match found {
            Some(account) => match account.state {
                AccountState::Revoked => Err(Reply::new(
                    550,
                    "5.2.1",
                    format!("<{address}>: mailbox disabled"),
                )),
                // RFC 3463: 5.1.1, the address no longer designates a mailbox; the tombstone
                // only keeps it from being given to somebody else.
                AccountState::Purged => Err(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: this mailbox no longer exists"),
                )),
                AccountState::Active | AccountState::Suspended => Ok(account.id),
            },
            None if local.eq_ignore_ascii_case(POSTMASTER) => self.operator_account(address).await,
            None => Err(Reply::new(
                550,
                "5.1.1",
                format!("<{address}>: no such mailbox here"),
            )),
        }
    }

    /// The mailbox that receives postmaster mail when no `postmaster@` account exists.
    async fn operator_account(&self, address: &str) -> Result<AccountId, Reply> {
        let accounts = self
            .ctx
            .store
            .list_accounts()
            .await
            .map_err(|e| store_error_reply(&e))?;
        accounts
            .iter()
            .find(|a| a.kind == AccountKind::Operator && a.state != AccountState::Revoked)
            .map(|a| a.id)
            .ok_or_else(|| Reply::new(550, "5.1.1", format!("<{address}>: no such mailbox here")))
    }
}
