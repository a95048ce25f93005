//! Running each local recipient's active Sieve script at delivery (RFC 5228), after the
//! policy pipeline accepted the message (DESIGN.md "Message path": scripts run after policy).
//!
//! Keeps true:
//! - A script never loses mail: a script that fails to load, parse or run, or a `fileinto`
//!   to a folder that does not exist, falls back to the implicit keep (RFC 5228 §2.10.6).
//! - Forwarding follows R-POL-6 at delivery too: a `redirect` outside `government_domains`
//!   (a script stored before the policy changed) is not sent, and the message is kept.
//! - A redirect to a hosted mailbox is delivered straight into its INBOX without running
//!   that mailbox's own script, so two scripts cannot bounce a message between them.
//! - The operator's forwarding (`Store::forwards`) goes the same way as a redirect, and the
//!   mailbox keeps its own copy whatever its script does with it.
//! - Vacation replies go out at most once per sender and :days (`claim_vacation_reply`),
//!   from the null reverse-path with `Auto-Submitted: auto-replied` (RFC 3834 §3.1.7, §5).
//! - `reject` refuses at SMTP time only when it is unambiguous (MX, every local recipient
//!   rejects, no remote recipient); otherwise the message is kept and the event logged,
//!   since SMTP cannot refuse one recipient after DATA.

use congvu_core::forwarding::is_government_address;
use congvu_core::{Flags, SpecialUse};
use congvu_pipeline::sieve::{Action, Decision, Envelope, SieveMessage, VacationReply, evaluate};
use congvu_store::{AccountId, FolderTarget};

use super::session::Session;

/// What the scripts decided for one delivery.
#[derive(Default)]
pub(crate) struct SieveOutcome {
    /// Where each account's copy goes, with its flags.
    pub(crate) targets: Vec<(AccountId, FolderTarget, Flags)>,
    /// Remote redirect addresses (queued with the recipient's address as sender).
    pub(crate) redirects: Vec<(String, String)>,
    pub(crate) vacations: Vec<(String, VacationReply)>,
    /// Set when every local recipient's script rejected: the reason to give.
    pub(crate) rejected: Option<String>,
}

impl Session<'_> {
    /// Runs the scripts of `recipients` (account, the address it was reached at) over `raw`.
    pub(crate) async fn run_sieve(
        &self,
        raw: &[u8],
        mail_from: &str,
        recipients: &[(AccountId, String)],
        folder: SpecialUse,
    ) -> SieveOutcome {
        let mut out = SieveOutcome::default();
        let mut message: Option<SieveMessage<'_>> = None;
        let mut rejects = 0usize;
        let mut first_reason = None;
        for (account, address) in recipients {
            self.add_forwards(*account, address, &mut out).await;
            let keep = (*account, FolderTarget::Special(folder), Flags::default());
            let script = match self.ctx.store.active_sieve_script(*account).await {
                Ok(Some((_, bytes))) => bytes,
                Ok(None) => {
                    out.targets.push(keep);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, address, "sieve: cannot load the script; keeping");
                    out.targets.push(keep);
                    continue;
                }
            };
            let script = match congvu_wire::sieve::parse(&script) {
                Ok(s) => s,
                Err(error) => {
                    tracing::warn!(%error, address, "sieve: stored script does not parse; keeping");
                    out.targets.push(keep);
                    continue;
                }
            };
            let msg = message.get_or_insert_with(|| SieveMessage::new(raw));
            let Decision { actions, error } = evaluate(
                &script,
                msg,
                &Envelope {
                    from: mail_from,
                    to: address,
                },
            );
            if let Some(error) = error {
                tracing::info!(%error, address, "sieve: runtime error; implicit keep");
            }
            let mut rejected = false;
            for action in actions {
                match action {
                    Action::Keep { flags } => out.targets.push((
                        *account,
                        FolderTarget::Special(folder),
                        Flags::from_names(flags.iter().map(String::as_str)),
                    )),
                    Action::FileInto { mailbox, flags } => {
                        let target = match self.ctx.store.folder_by_name(*account, &mailbox).await {
                            Ok(Some(f)) => FolderTarget::Id(f.id),
                            _ => {
                                tracing::info!(
                                    address,
                                    mailbox,
                                    "sieve: fileinto a missing folder; keeping in INBOX"
                                );
                                FolderTarget::Special(folder)
                            }
                        };
                        out.targets.push((
                            *account,
                            target,
                            Flags::from_names(flags.iter().map(String::as_str)),
                        ));
                    }
                    Action::Discard => {}
                    Action::Redirect { address: to } => {
                        if !self.forwarding_allowed(&to) {
                            tracing::warn!(
                                address,
                                to,
                                "sieve: redirect outside government domains refused (R-POL-6); keeping"
                            );
                            out.targets.push(keep.clone());
                            continue;
                        }
                        match self.local_account(&to).await {
                            Some(other) => out.targets.push((
                                other,
                                FolderTarget::Special(SpecialUse::Inbox),
                                Flags::default(),
                            )),
                            None => out.redirects.push((address.clone(), to)),
                        }
                    }
                    Action::Reject { reason } => {
                        rejected = true;
                        first_reason.get_or_insert(reason);
                    }
                    Action::Vacation(reply) => {
                        let claimed = self
                            .ctx
                            .store
                            .claim_vacation_reply(
                                *account,
                                &reply.handle,
                                &reply.to,
                                (self.ctx.config.now)(),
                                i64::try_from(reply.days).unwrap_or(1) * 86_400,
                            )
                            .await;
                        if matches!(claimed, Ok(true)) {
                            out.vacations.push((address.clone(), reply));
                        }
                    }
                }
            }
            if rejected {
                rejects += 1;
                // Kept unless every recipient rejects (see the module notes).
                out.targets.push(keep);
            }
        }
        if rejects > 0 && rejects == recipients.len() {
            out.rejected = first_reason;
        }
        out
    }

    /// The operator's forwarding of `account` (`congvu mailbox forward`): a copy for every
    /// target, beside the mailbox's own copy, through the same path as a Sieve redirect (a
    /// hosted target straight into its INBOX, another queued from `address`). A target
    /// outside `government_domains` (set before the policy changed) is skipped.
    async fn add_forwards(&self, account: AccountId, address: &str, out: &mut SieveOutcome) {
        let targets = match self.ctx.store.forwards(account).await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, address, "forwarding: cannot read the targets");
                return;
            }
        };
        for to in targets {
            if !self.forwarding_allowed(&to) {
                tracing::warn!(
                    address,
                    to,
                    "forwarding outside government domains refused (R-POL-6)"
                );
                continue;
            }
            match self.local_account(&to).await {
                Some(other) if other == account => {}
                Some(other) => out.targets.push((
                    other,
                    FolderTarget::Special(SpecialUse::Inbox),
                    Flags::default(),
                )),
                None => out.redirects.push((address.to_string(), to)),
            }
        }
    }

    fn forwarding_allowed(&self, address: &str) -> bool {
        is_government_address(address, &self.ctx.config.government_domains)
    }

    /// The hosted mailbox `address` names, if it is one of ours.
    pub(crate) async fn local_account(&self, address: &str) -> Option<AccountId> {
        let domain = address.rsplit_once('@').map(|(_, d)| d)?;
        if !self
            .ctx
            .config
            .hosted_domains
            .iter()
            .any(|h| h.eq_ignore_ascii_case(domain))
        {
            return None;
        }
        match self
            .ctx
            .store
            .account_by_address(&address.to_lowercase())
            .await
        {
            Ok(Some(a)) => Some(a.id),
            _ => None,
        }
    }
}

/// The vacation reply message (RFC 5230 §5, RFC 3834 §3): from the recipient to the sender,
/// answering the original's Message-ID.
pub(crate) fn vacation_message(
    from: &str,
    reply: &VacationReply,
    in_reply_to: Option<&str>,
    date: &str,
    message_id: &str,
) -> Vec<u8> {
    let from = reply.from.clone().unwrap_or_else(|| from.to_string());
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", header_safe(&from)));
    out.push_str(&format!("To: <{}>\r\n", header_safe(&reply.to)));
    out.push_str(&format!("Subject: {}\r\n", encode_word(&reply.subject)));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{message_id}>\r\n"));
    if let Some(id) = in_reply_to {
        out.push_str(&format!(
            "In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
            header_safe(id),
            header_safe(id)
        ));
    }
    out.push_str("Auto-Submitted: auto-replied (vacation)\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    if reply.mime {
        // :mime (RFC 5230 §4.8): the reason is a whole MIME entity with its own headers.
        out.push_str(&reply.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
    } else {
        out.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        out.push_str(&reply.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// A header value with CR and LF removed, so a script cannot inject header lines.
fn header_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// RFC 2047 B-encoding for a non-ASCII subject.
pub(crate) fn encode_word(s: &str) -> String {
    let s = header_safe(s);
    if s.is_ascii() {
        return s;
    }
    use base64::Engine;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacation_message_cannot_inject_headers() {
        let reply = VacationReply {
            to: "a@b.vn\r\nBcc: x@y.vn".into(),
            from: None,
            subject: "Nghỉ phép\r\nX-Evil: 1".into(),
            reason: "Tôi nghỉ phép.".into(),
            mime: false,
            handle: "h".into(),
            days: 7,
        };
        let raw = vacation_message(
            "an@tinh.gov.vn",
            &reply,
            Some("m1@x"),
            "Mon, 23 Nov 2026 10:00:00 +0700",
            "v1@tinh.gov.vn",
        );
        let text = String::from_utf8(raw).expect("utf-8");
        assert!(!text.contains("\r\nBcc:"));
        assert!(!text.contains("\r\nX-Evil:"));
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.contains("Subject: =?UTF-8?B?"));
        assert!(text.contains("In-Reply-To: <m1@x>"));
    }
}
