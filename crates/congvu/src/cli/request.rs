//! `congvu request …`: requests filed by unit IT contacts, decided by the operator (R-ACC-6).
//!
//! Keeps true:
//! - Only the operator or an IT contact of the mailbox's unit (or a unit above it) can file;
//!   only an operator account can approve or reject (`core::request`).
//! - Approval first moves the request from pending to done (a compare-and-set: a second
//!   approval fails), then carries it out through `ops`, whose audit entries name the filer
//!   as "requested by" and the operator as "approved by"; if carrying it out fails, the
//!   request ends as failed with the reason.

use super::ops::{Ops, Who};
use crate::config::ConfigError;
use crate::storage;
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use congvu_core::lifecycle::LifecycleAction;
use congvu_core::request::{Role, check_decision, check_filing};
use congvu_store::{
    AccountKind, NewRequest, Request, RequestDecision, RequestId, RequestKind, RequestStatus,
};
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
            let kind = RequestKind::from_token(&kind).ok_or_else(|| {
                ConfigError(format!(
                    "--kind {kind}: use new-mailbox, change, reset, suspend, revoke or restore"
                ))
            })?;
            let ops = Ops::open(&config).await?;
            let role = role_of(&ops, &by).await?;
            let nodes = ops.unit_nodes().await?;
            let unit = match &unit {
                Some(u) => Some(ops.unit(u).await?),
                None => None,
            };
            let mailbox = mailbox.unwrap_or_default();
            if kind.needs_mailbox() {
                if mailbox.is_empty() {
                    bail!(ConfigError(format!(
                        "--mailbox is required for a {} request",
                        kind.as_str()
                    )));
                }
                let account = ops.account(&mailbox).await?;
                let details = ops.details(&account).await?;
                let own_unit = match details.unit {
                    Some(u) => Some(u),
                    None => ops.store.unit_by_account(account.id).await?.map(|u| u.id),
                };
                check_filing(&role, own_unit, &nodes)?;
            } else if name.trim().is_empty() || unit.is_none() {
                bail!(ConfigError(
                    "a new-mailbox request needs --name and --unit".into()
                ));
            }
            // The unit named (the new mailbox's, or the one a change moves it to) must be
            // within the requester's reach as well.
            if let Some(u) = &unit {
                check_filing(&role, Some(u.id), &nodes)?;
            }
            let request = ops
                .store
                .file_request(NewRequest {
                    kind,
                    requested_by: by.clone(),
                    unit: unit.as_ref().map(|u| u.id),
                    mailbox,
                    name,
                    title,
                    phone,
                    reason,
                    filed_at: storage::now(),
                })
                .await?;
            let who = Who {
                actor: request.requested_by.clone(),
                role: role.as_str().into(),
                requested_by: String::new(),
                approved_by: String::new(),
            };
            ops.audit(
                &who,
                "request.file",
                &format!("request {}", request.id),
                &describe(&request),
            )
            .await?;
            if json {
                println!("{}", request_json(&request));
            } else {
                println!(
                    "request {} filed ({}): {}",
                    request.id,
                    request.status.as_str(),
                    describe(&request)
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
                        describe(&r),
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
            let request = pending(&ops, id, &by).await?;
            let now = storage::now();
            ops.store
                .decide_request(
                    id,
                    RequestStatus::Pending,
                    RequestDecision {
                        status: RequestStatus::Done,
                        by: by.clone(),
                        at: now,
                        reason: String::new(),
                        result: String::new(),
                    },
                )
                .await?;
            let operator = ops.account(&by).await?.address;
            ops.audit(
                &Who::cli(Some(operator.clone())),
                "request.approve",
                &format!("request {id}"),
                &describe(&request),
            )
            .await?;
            let who = Who {
                actor: operator.clone(),
                role: "operator".into(),
                requested_by: request.requested_by.clone(),
                approved_by: operator,
            };
            match carry_out(&ops, &request, &who).await {
                Ok((result, password)) => {
                    let done = ops
                        .store
                        .decide_request(
                            id,
                            RequestStatus::Done,
                            RequestDecision {
                                status: RequestStatus::Done,
                                by,
                                at: now,
                                reason: String::new(),
                                result: result.clone(),
                            },
                        )
                        .await?;
                    if json {
                        let mut v = request_json(&done);
                        v["password"] = json!(password);
                        println!("{v}");
                    } else {
                        println!("request {id} approved and carried out: {result}");
                        if let Some(pw) = password {
                            println!("password: {pw}");
                            println!("(one-time password: it must be changed at first use)");
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    ops.store
                        .decide_request(
                            id,
                            RequestStatus::Done,
                            RequestDecision {
                                status: RequestStatus::Failed,
                                by,
                                at: now,
                                reason: reason.clone(),
                                result: String::new(),
                            },
                        )
                        .await?;
                    Err(anyhow!(
                        "request {id} was approved but could not be carried out: {reason}"
                    ))
                }
            }
        }
        RequestCommand::Reject {
            config,
            id,
            by,
            reason,
            json,
        } => {
            if reason.trim().is_empty() {
                bail!(ConfigError(
                    "--reason must say why the request is rejected".into()
                ));
            }
            let ops = Ops::open(&config).await?;
            let request = pending(&ops, id, &by).await?;
            let rejected = ops
                .store
                .decide_request(
                    id,
                    RequestStatus::Pending,
                    RequestDecision {
                        status: RequestStatus::Rejected,
                        by: by.clone(),
                        at: storage::now(),
                        reason: reason.clone(),
                        result: String::new(),
                    },
                )
                .await?;
            ops.audit(
                &Who::cli(Some(by.to_lowercase())),
                "request.reject",
                &format!("request {id}"),
                &format!("{}; reason: {reason}", describe(&request)),
            )
            .await?;
            if json {
                println!("{}", request_json(&rejected));
            } else {
                println!("request {id} rejected: {reason}");
            }
            Ok(())
        }
    }
}

/// The role of the account at `address` (R-ACC-6).
async fn role_of(ops: &Ops, address: &str) -> Result<Role> {
    let account = ops.account(address).await?;
    if account.kind == AccountKind::Operator {
        return Ok(Role::Operator);
    }
    let units = ops.store.contact_units(account.id).await?;
    Ok(if units.is_empty() {
        Role::User
    } else {
        Role::UnitContact(units)
    })
}

/// The request, if `by` may decide it now.
async fn pending(ops: &Ops, id: RequestId, by: &str) -> Result<Request> {
    let request = ops
        .store
        .request_by_id(id)
        .await?
        .ok_or_else(|| anyhow!("there is no request {id}"))?;
    check_decision(&role_of(ops, by).await?, request.status)?;
    Ok(request)
}

/// Does what the request asks; returns a description of the result and, for a new mailbox
/// or a reset, the one-time password to hand over.
async fn carry_out(ops: &Ops, r: &Request, who: &Who) -> Result<(String, Option<String>)> {
    let unit = match r.unit {
        Some(id) => Some(
            ops.store
                .unit_by_id(id)
                .await?
                .ok_or_else(|| anyhow!("unit {id} no longer exists"))?,
        ),
        None => None,
    };
    let lifecycle = |action| async move {
        let a = ops.change_state(&r.mailbox, action, &r.reason, who).await?;
        Ok::<_, anyhow::Error>((format!("{} is {}", a.address, a.state.as_str()), None))
    };
    match r.kind {
        RequestKind::NewMailbox => {
            let unit = unit.ok_or_else(|| anyhow!("the request names no unit"))?;
            let (account, pw) = ops
                .add_person(&r.name, &unit, &r.title, &r.phone, who)
                .await?;
            Ok((account.address, Some(pw)))
        }
        RequestKind::Change => {
            let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
            ops.update(
                &r.mailbox,
                some(&r.name).as_deref(),
                unit.as_ref(),
                some(&r.title).as_deref(),
                some(&r.phone).as_deref(),
                who,
            )
            .await?;
            Ok((format!("{} updated", r.mailbox), None))
        }
        RequestKind::Reset => {
            let pw = ops.reset_password(&r.mailbox, who).await?;
            Ok((format!("{} password reset", r.mailbox), Some(pw)))
        }
        RequestKind::Suspend => lifecycle(LifecycleAction::Suspend).await,
        RequestKind::Revoke => lifecycle(LifecycleAction::Revoke).await,
        RequestKind::Restore => lifecycle(LifecycleAction::Restore).await,
    }
}

fn describe(r: &Request) -> String {
    let mut out = r.kind.as_str().to_string();
    for (label, value) in [
        ("mailbox", &r.mailbox),
        ("name", &r.name),
        ("title", &r.title),
        ("reason", &r.reason),
    ] {
        if !value.is_empty() {
            out.push_str(&format!(" {label}={value:?}"));
        }
    }
    if let Some(u) = r.unit {
        out.push_str(&format!(" unit={u}"));
    }
    out
}

fn request_json(r: &Request) -> serde_json::Value {
    json!({ "id": r.id, "kind": r.kind.as_str(), "status": r.status.as_str(),
        "requested_by": r.requested_by, "unit": r.unit, "mailbox": r.mailbox, "name": r.name,
        "title": r.title, "phone": r.phone, "reason": r.reason, "filed_at": r.filed_at,
        "decided_by": r.decided_by, "decided_at": r.decided_at,
        "decision_reason": r.decision_reason, "result": r.result })
}
