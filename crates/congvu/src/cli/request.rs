//! `congvu request …`: requests filed by unit IT contacts, decided by the operator (R-ACC-6).
//!
//! The rules (who may file and decide, approval as a compare-and-set, carrying a request out
//! with the filer as "requested by" and the operator as "approved by") live in
//! `congvu_web::ops`, shared with the JSON API; this file reads arguments and prints.

use super::ops::Ops;
use crate::config::ConfigError;
use anyhow::Result;
use clap::Subcommand;
use congvu_store::{NewRequest, Request, RequestId, RequestStatus};
use congvu_web::ops::{describe_request, request_kind};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// File a request (new-mailbox, change, reset, suspend, revoke, restore).
    File {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        kind: String,
        /// The requester's address (a unit IT contact, or an operator).
        #[arg(long)]
        by: String,
        /// The mailbox concerned (all kinds but new-mailbox).
        #[arg(long, alias = "address")]
        mailbox: Option<String>,
        /// Full name (new-mailbox; a new name for change).
        #[arg(long, default_value = "")]
        name: String,
        /// The unit (new-mailbox; a new unit for change): id or unit mailbox address.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value = "")]
        title: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// List requests.
    List {
        #[arg(long)]
        config: PathBuf,
        /// pending, done, failed or rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request and carry it out.
    Approve {
        #[arg(long)]
        config: PathBuf,
        id: RequestId,
        /// The approving operator's address.
        #[arg(long)]
        by: String,
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending request with a reason.
    Reject {
        #[arg(long)]
        config: PathBuf,
        id: RequestId,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: RequestCommand) -> Result<()> {
    match command {
        RequestCommand::File {
            config,
            kind,
            by,
            mailbox,
            name,
            unit,
            title,
            phone,
            reason,
            json,
        } => {
            let kind = request_kind(&kind)?;
            let ops = Ops::open(&config).await?;
            let by = ops.account(&by).await?;
            let unit = match &unit {
                Some(u) => Some(ops.unit(u).await?.id),
                None => None,
            };
            let request = ops
                .file_request(
                    NewRequest {
                        kind,
                        requested_by: String::new(),
                        unit,
                        mailbox: mailbox.unwrap_or_default(),
                        name,
                        title,
                        phone,
                        reason,
                        filed_at: 0,
                    },
                    &by,
                    "",
                )
                .await?;
            if json {
                println!("{}", request_json(&request));
            } else {
                println!(
                    "request {} filed ({}): {}",
                    request.id,
                    request.status.as_str(),
                    describe_request(&request)
                );
            }
            Ok(())
        }
        RequestCommand::List {
            config,
            status,
            json,
        } => {
            let status = match status {
                Some(s) => Some(RequestStatus::from_token(&s).ok_or_else(|| {
                    ConfigError(format!(
                        "--status {s}: use pending, done, failed or rejected"
                    ))
                })?),
                None => None,
            };
            let ops = Ops::open(&config).await?;
            let requests = ops.store.list_requests(status).await?;
            if json {
                let rows: Vec<_> = requests.iter().map(request_json).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in requests {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        r.id,
                        r.status.as_str(),
                        r.requested_by,
                        describe_request(&r),
                        r.result
                    );
                }
            }
            Ok(())
        }
        RequestCommand::Approve {
            config,
            id,
            by,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let by = ops.account(&by).await?;
            let approved = ops.approve_request(id, &by, "").await?;
            if json {
                let mut v = request_json(&approved.request);
                v["password"] = json!(approved.password);
                println!("{v}");
            } else {
                println!(
                    "request {id} approved and carried out: {}",
                    approved.request.result
                );
                if let Some(pw) = approved.password {
                    println!("password: {pw}");
                    println!("(one-time password: it must be changed at first use)");
                }
            }
            Ok(())
        }
        RequestCommand::Reject {
            config,
            id,
            by,
            reason,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let by = ops.account(&by).await?;
            let rejected = ops.reject_request(id, &by, &reason, "").await?;
            if json {
                println!("{}", request_json(&rejected));
            } else {
                println!("request {id} rejected: {reason}");
            }
            Ok(())
        }
    }
}

fn request_json(r: &Request) -> serde_json::Value {
    json!({ "id": r.id, "kind": r.kind.as_str(), "status": r.status.as_str(),
        "requested_by": r.requested_by, "unit": r.unit, "mailbox": r.mailbox, "name": r.name,
        "title": r.title, "phone": r.phone, "reason": r.reason, "filed_at": r.filed_at,
        "decided_by": r.decided_by, "decided_at": r.decided_at,
        "decision_reason": r.decision_reason, "result": r.result })
}
