//! R-POL-3: executables are neither sent nor received, by name or by content, also inside
//! archives; password-protected archives are restricted (by default quarantined inbound and
//! refused on submission); archive bombs are refused.
//!
//! Invariant: every attachment of the message, nested messages included, is inspected; the
//! sentence given back names the file (its path inside archives) and the rule, in Vietnamese
//! and English.

use super::archive::{Finding, inspect_attachment};
use super::{apply_action, display_name, is_inbound};
use crate::parts::{Decoded, decode_message};
use crate::policy::AttachmentPolicy;
use crate::{Check, MessageView, Outcome};
use async_trait::async_trait;
use congvu_core::Reply;
use std::sync::Arc;

pub struct Attachments {
    policy: Arc<AttachmentPolicy>,
}

impl Attachments {
    pub fn new(policy: AttachmentPolicy) -> Self {
        Attachments {
            policy: Arc::new(policy),
        }
    }
}

/// The worst finding over all attachments of `raw`: a forbidden one if any, else the first
/// restricted one.
pub fn inspect_message(policy: &AttachmentPolicy, raw: &[u8]) -> Option<Finding> {
    inspect_decoded(policy, &decode_message(raw))
}

/// [`inspect_message`] of a message already decoded.
pub fn inspect_decoded(policy: &AttachmentPolicy, decoded: &Decoded) -> Option<Finding> {
    let mut restricted = None;
    for attachment in &decoded.attachments {
        match inspect_attachment(policy, &attachment.name, &attachment.data) {
            Some(f) if f.is_forbidden() => return Some(f),
            Some(f) => {
                restricted.get_or_insert(f);
            }
            None => {}
        }
    }
    restricted
}

/// The sentence for `finding`, Vietnamese first.
pub fn describe(finding: &Finding) -> String {
    match finding {
        Finding::ExecutableName { path, extension } => {
            let p = display_name(path);
            format!(
                "Tệp đính kèm «{p}» là tệp thực thi (.{extension}), bị cấm gửi/nhận (R-POL-3). \
                 Executable attachment «{p}» (.{extension}) is not allowed."
            )
        }
        Finding::ExecutableContent { path, kind } => {
            let p = display_name(path);
            format!(
                "Tệp đính kèm «{p}» chứa chương trình thực thi ({kind}), bị cấm gửi/nhận (R-POL-3). \
                 Attachment «{p}» contains an executable ({kind}) and is not allowed."
            )
        }
        Finding::Bomb { path, why } => {
            let p = display_name(path);
            format!(
                "Tệp nén «{p}» vượt giới hạn giải nén ({why}), bị từ chối (R-POL-3). \
                 Archive «{p}» exceeds the unpacking limits ({why}) and is refused."
            )
        }
        Finding::Encrypted { path } => {
            let p = display_name(path);
            format!(
                "Tệp nén «{p}» có mật khẩu nên không kiểm tra được, bị hạn chế (R-POL-3); \
                 hãy gửi tệp không đặt mật khẩu. Password-protected archive «{p}» cannot be \
                 inspected and is restricted (R-POL-3); send it without a password."
            )
        }
        Finding::Unreadable { path, error } => {
            let p = display_name(path);
            let error = display_name(error);
            format!(
                "Tệp nén «{p}» bị hỏng nên không kiểm tra được, bị hạn chế (R-POL-3). \
                 Archive «{p}» cannot be read ({error}) and is restricted (R-POL-3)."
            )
        }
    }
}

#[async_trait]
impl Check for Attachments {
    fn name(&self) -> &'static str {
        "attachments"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        // Unpacking is CPU work: keep it off the connection tasks' threads.
        let policy = self.policy.clone();
        let inspected = match ctx.decoded().await {
            Ok(decoded) if !decoded.has_attachments() => Ok(None),
            Ok(decoded) => {
                tokio::task::spawn_blocking(move || inspect_decoded(&policy, &decoded)).await
            }
            Err(e) => Err(e),
        };
        let finding = match inspected {
            Ok(finding) => finding,
            Err(e) => {
                tracing::error!(error = %e, "attachment inspection failed");
                return Outcome::Reject(Reply::new(
                    451,
                    "4.3.0",
                    "Lỗi tạm thời khi kiểm tra tệp đính kèm, xin gửi lại sau. \
                     Temporary failure while inspecting attachments; please try again later.",
                ));
            }
        };
        let Some(finding) = finding else {
            return Outcome::Pass;
        };
        let text = describe(&finding);
        if finding.is_forbidden() {
            return Outcome::Reject(Reply::new(554, "5.7.1", text));
        }
        let action = if is_inbound(ctx.source) {
            self.policy.encrypted_inbound
        } else {
            self.policy.encrypted_submission
        };
        let tag = match finding {
            Finding::Encrypted { .. } => "R-POL-3 encrypted archive",
            _ => "R-POL-3 unreadable archive",
        };
        apply_action(action, text, tag)
    }
}
