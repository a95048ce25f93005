//! Holding a message the pipeline quarantined (R-POL-3 encrypted archives, R-POL-7
//! state-secret marks on mail from outside): it is accepted, kept in the store's quarantine
//! (in no mailbox) and the operator is told by mail; `congvu quarantine list|release|delete`
//! then decides (crates/web/src/ops.rs).
//!
//! Keeps true:
//! - `250` only after the blob is fsynced and the quarantine row committed (RFC 5321 §6.1:
//!   an accepted message must not be lost); a store failure is `451`, so the client retries.
//! - The reply is the ordinary one: the sender is not told the message is held.
//! - The operator's alert is written by the server and goes straight into the postmaster's
//!   INBOX without the pipeline: it quotes the reason (e.g. «TỐI MẬT»), which the marks check
//!   would otherwise hold again. A failed alert is logged; it never loses the held message.

use std::sync::Arc;

use congvu_core::{Flags, SpecialUse};
use congvu_store::{Delivery, DeliveryTarget, FolderTarget, NewQuarantined, Quarantined};
use congvu_wire::mime::{MessageIndex, parse_message};

use super::deliver::store_error_reply;
use super::session::{Mode, Session, Transaction};
use super::sieve::encode_word;
use super::trace::{new_transaction_id, now_rfc5322};
use crate::reply::Reply;

impl Session<'_> {
    /// Keeps `raw` in quarantine for the operator and answers as for a delivered message.
    pub(crate) async fn hold(
        &self,
        tx: &Transaction,
        id: &str,
        raw: &[u8],
        index: &MessageIndex,
        reason: &str,
    ) -> Reply {
        let blob = match self.ctx.blobs.put(raw).await {
            Ok(blob) => blob,
            Err(e) => return store_error_reply(&e),
        };
        let held = self
            .ctx
            .store
            .quarantine(
                NewQuarantined {
                    blob,
                    mail_from: tx.mail_from.clone(),
                    recipients: tx.rcpts.iter().map(|r| r.address.clone()).collect(),
                    reason: reason.to_string(),
                    source: match self.mode {
                        Mode::Mx => "mx",
                        Mode::Submission => "submission",
                    }
                    .to_string(),
                    remote_ip: self.peer.ip().to_string(),
                    helo: self
                        .helo
                        .as_ref()
                        .map(|h| h.host.clone())
                        .unwrap_or_default(),
                    message_id: index.message_id.clone(),
                    subject: index.subject.clone(),
                    at: (self.ctx.config.now)(),
                },
                index,
            )
            .await;
        let held = match held {
            Ok(held) => held,
            Err(e) => return store_error_reply(&e),
        };
        tracing::info!(
            %id, quarantine = held.id, peer = %self.peer, reason,
            "smtp: message quarantined"
        );
        self.alert_operator(&held).await;
        Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
    }

    /// Mails the postmaster of the first hosted domain about a held message.
    async fn alert_operator(&self, held: &Quarantined) {
        let Some(domain) = self.ctx.config.hosted_domains.first() else {
            return;
        };
        let postmaster = format!("postmaster@{}", domain.to_lowercase());
        let Some(account) = self.local_account(&postmaster).await else {
            tracing::warn!(
                quarantine = held.id,
                postmaster,
                "smtp: no postmaster mailbox to alert about a quarantined message"
            );
            return;
        };
        let message_id = format!("{}@{}", new_transaction_id(), self.ctx.config.hostname);
        let raw = alert_message(held, &postmaster, &now_rfc5322(), &message_id);
        let result = async {
            let blob = self.ctx.blobs.put(&raw).await?;
            self.ctx
                .store
                .deliver(Delivery {
                    blob,
                    index: Arc::new(parse_message(&raw)),
                    internal_date: (self.ctx.config.now)(),
                    targets: vec![DeliveryTarget {
                        account,
                        folder: FolderTarget::Special(SpecialUse::Inbox),
                        flags: Flags::default(),
                    }],
                })
                .await
        }
        .await;
        if let Err(error) = result {
            tracing::error!(%error, quarantine = held.id, "smtp: quarantine alert not delivered");
        }
    }
}

/// The operator's alert: which message, from whom, to whom, why, and the commands to decide.
pub(crate) fn alert_message(
    held: &Quarantined,
    postmaster: &str,
    date: &str,
    message_id: &str,
) -> Vec<u8> {
    let m = &held.message;
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let sender = if m.mail_from.is_empty() {
        "<>".to_string()
    } else {
        clean(&m.mail_from)
    };
    let mut body = String::new();
    body.push_str(
        "Một thư gửi đến đã bị giữ lại (cách ly) theo chính sách và chưa được chuyển cho người nhận.\n",
    );
    body.push_str("A message was quarantined by policy and has not been delivered.\n\n");
    body.push_str(&format!("Mã / Id:                  {}\n", held.id));
    body.push_str(&format!("Người gửi / Sender:       {sender}\n"));
    body.push_str(&format!(
        "Người nhận / Recipients:  {}\n",
        clean(&m.recipients.join(", "))
    ));
    body.push_str(&format!("Lý do / Reason:           {}\n", clean(&m.reason)));
    body.push_str(&format!(
        "Tiêu đề / Subject:        {}\n",
        clean(&m.subject)
    ));
    if let Some(id) = &m.message_id {
        body.push_str(&format!("Message-ID:               <{}>\n", clean(id)));
    }
    body.push_str(&format!(
        "Máy gửi / Client:         {} [{}] ({})\n\n",
        clean(&m.helo),
        m.remote_ip,
        m.source
    ));
    body.push_str("Xử lý / To decide:\n");
    body.push_str("  congvu quarantine list --config FILE\n");
    body.push_str(&format!(
        "  congvu quarantine release --config FILE {}\n",
        held.id
    ));
    body.push_str(&format!(
        "  congvu quarantine delete --config FILE {}\n",
        held.id
    ));
    let mut out = String::new();
    out.push_str(&format!("From: <{postmaster}>\r\n"));
    out.push_str(&format!("To: <{postmaster}>\r\n"));
    out.push_str(&format!(
        "Subject: {}\r\n",
        encode_word(&format!(
            "[congvu] Thư bị giữ lại #{} / Message quarantined",
            held.id
        ))
    ));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{message_id}>\r\n"));
    // RFC 3834 §5: generated by the server, not a person; nobody should answer it automatically.
    out.push_str("Auto-Submitted: auto-generated\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    out.push_str(&body.replace('\n', "\r\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_store::BlobHash;

    #[test]
    fn alert_names_message_sender_recipients_and_reason() {
        let held = Quarantined {
            id: 7,
            message: NewQuarantined {
                blob: BlobHash("00".repeat(32)),
                mail_from: "nguoigui@example.org".into(),
                recipients: vec!["binhtt@tinh.gov.vn".into(), "annv@tinh.gov.vn".into()],
                reason: "R-POL-7: «TỐI MẬT»\r\nBcc: x@y".into(),
                source: "mx".into(),
                remote_ip: "192.0.2.1".into(),
                helo: "mx.example.org".into(),
                message_id: Some("m1@example.org".into()),
                subject: "[TỐI MẬT] Kế hoạch".into(),
                at: 0,
            },
        };
        let raw = alert_message(
            &held,
            "postmaster@tinh.gov.vn",
            "Mon, 23 Nov 2026 10:00:00 +0700",
            "a1@mail.tinh.gov.vn",
        );
        let text = String::from_utf8(raw).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("header/body");
        assert!(head.contains("Subject: =?UTF-8?B?"));
        assert!(!head.contains("Bcc:"));
        assert!(body.contains("nguoigui@example.org"));
        assert!(body.contains("binhtt@tinh.gov.vn, annv@tinh.gov.vn"));
        assert!(body.contains("«TỐI MẬT»"));
        assert!(!body.contains("\r\nBcc:"));
        assert!(body.contains("quarantine release --config FILE 7"));
        assert!(body.contains("<m1@example.org>"));
    }
}
