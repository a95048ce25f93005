//! `congvu quarantine list|show|release|delete`: mail the policy held instead of delivering
//! (R-POL-3 encrypted archives, R-POL-7 state-secret marks on mail from outside). Release
//! delivers to the original recipients as ordinary delivery would; each action is audited
//! (`congvu_web::ops`, shared with the JSON API).

use super::ops::{Ops, Who};
use anyhow::Result;
use clap::Subcommand;
use congvu_store::{QuarantineId, Quarantined};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List held messages: id, time, sender, recipients, reason.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Deliver a held message to its original recipients and take it out of the quarantine.
    Release {
        id: QuarantineId,
        #[arg(long)]
        config: PathBuf,
        /// Who is acting (default: "operator (cli)").
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a held message without delivering it.
    Delete {
        id: QuarantineId,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn held_json(q: &Quarantined) -> serde_json::Value {
    let m = &q.message;
    json!({ "id": q.id, "at": m.at, "time": time(m.at), "mail_from": m.mail_from,
        "recipients": m.recipients, "reason": m.reason, "source": m.source,
        "remote_ip": m.remote_ip, "helo": m.helo, "message_id": m.message_id,
        "subject": m.subject, "blob": m.blob.0 })
}

fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn sender(m: &str) -> &str {
    if m.is_empty() { "<>" } else { m }
}

pub async fn run(command: QuarantineCommand) -> Result<()> {
    match command {
        QuarantineCommand::List { config, json } => {
            let ops = Ops::open(&config).await?;
            let held = ops.quarantine_list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(held.iter().map(held_json).collect())
                );
            } else if held.is_empty() {
                println!("the quarantine is empty");
            } else {
                for q in &held {
                    let m = &q.message;
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        q.id,
                        time(m.at),
                        sender(&m.mail_from),
                        m.recipients.join(","),
                        m.reason
                    );
                }
            }
            Ok(())
        }
        QuarantineCommand::Release {
            id,
            config,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let r = ops
                .quarantine_release(id, ops.blobs.as_ref(), &Who::cli(actor))
                .await?;
            if json {
                println!(
                    "{}",
                    json!({ "id": id, "released": true, "delivered": r.delivered,
                        "queued": r.queued,
                        "skipped": r.skipped.iter()
                            .map(|(a, why)| json!({ "address": a, "reason": why }))
                            .collect::<Vec<_>>() })
                );
            } else {
                println!("quarantined message {id} released");
                for a in &r.delivered {
                    println!("delivered: {a}");
                }
                for a in &r.queued {
                    println!("queued: {a}");
                }
                for (a, why) in &r.skipped {
                    println!("not delivered: {a} ({why})");
                }
            }
            Ok(())
        }
        QuarantineCommand::Delete {
            id,
            config,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let q = ops
                .quarantine_delete(id, ops.blobs.as_ref(), &Who::cli(actor))
                .await?;
            if json {
                println!(
                    "{}",
                    json!({ "id": id, "deleted": true, "message": held_json(&q) })
                );
            } else {
                println!(
                    "quarantined message {id} from {} deleted (the sender was not notified)",
                    sender(&q.message.mail_from)
                );
            }
            Ok(())
        }
    }
}
