//! `congvu queue …`: the outbound queue as the operator sees it — what is waiting, why, and
//! the two actions an operator takes: try again now, or give up on a message (no bounce is
//! sent for a deleted message; the operator tells the sender).
//!
//! Holds (R-POL-9): after a sending anomaly a login's remote mail is parked in the queue;
//! `list` shows those messages as `held` and the held logins, and `release --address` lets
//! them go (audited as `queue.release`).

use crate::config;
use crate::storage;
use anyhow::{Result, bail};
use clap::Subcommand;
use congvu_store::{NewAuditEntry, QueueEntry, QueueId, QueueRecipient, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages and their recipients.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show one queued message with each recipient's last attempt.
    Show {
        id: QueueId,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make every pending recipient of the message due now.
    Retry {
        id: QueueId,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove the message from the queue (no bounce is sent).
    Delete {
        id: QueueId,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Lift the hold a sending anomaly put on a login: its held messages are sent now.
    Release {
        /// The login (mailbox address) whose remote mail is held.
        #[arg(long)]
        address: String,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn recipient_json(r: &QueueRecipient) -> serde_json::Value {
    serde_json::json!({
        "address": r.address,
        "status": r.status.as_str(),
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
        "last_attempt_at": r.last_attempt_at,
        "last_error": r.last_error,
        "remote_host": r.remote_host,
        "remote_response": r.remote_response,
        "delay_warned": r.delay_warned,
    })
}

fn entry_json(e: &QueueEntry, held: Option<&String>) -> serde_json::Value {
    serde_json::json!({
        "held_for": held,
        "id": e.id,
        "blob": e.blob.0,
        "mail_from": e.mail_from,
        "created_at": e.created_at,
        "submitted_by": e.submitted_by,
        "recipients": e.recipients.iter().map(recipient_json).collect::<Vec<_>>(),
    })
}

fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn sender(e: &QueueEntry) -> &str {
    if e.mail_from.is_empty() {
        "<> (delivery notice)"
    } else {
        &e.mail_from
    }
}

/// A missing message is a usage error (exit 2) naming the id.
/// The store's refusals as operator errors (exit 2): an unknown id, or a message the
/// store will not retry (held by an outbound hold; the sentence says how to lift it).
fn not_found(id: QueueId, e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NotFound(_) => config::ConfigError(format!(
            "no queued message with id {id} (see `congvu queue list`)"
        ))
        .into(),
        StoreError::Invalid(why) => config::ConfigError(why).into(),
        other => other.into(),
    }
}

/// An operator's action on one queued message, for the audit log (DESIGN.md: every
/// operator action on mail is audited).
async fn audit_queue_action(
    store: &dyn congvu_store::Store,
    action: &str,
    entry: &QueueEntry,
) -> Result<()> {
    let recipients: Vec<&str> = entry
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    store
        .append_audit(NewAuditEntry {
            at: storage::now(),
            actor: "operator (cli)".into(),
            role: "operator".into(),
            action: action.into(),
            target: format!("queue #{}", entry.id),
            detail: format!("from <{}> to {}", entry.mail_from, recipients.join(", ")),
            ..NewAuditEntry::default()
        })
        .await?;
    Ok(())
}

pub async fn run(command: QueueCommand) -> Result<()> {
    match command {
        QueueCommand::List { config, json } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            let entries = store.list_queue().await?;
            let held: HashMap<QueueId, String> = store.held_queued().await?.into_iter().collect();
            let holds = store.outbound_holds().await?;
            if json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|e| entry_json(e, held.get(&e.id)))
                    .collect();
                // An array, as before; a parked message names its login in `held_for`.
                println!("{}", serde_json::Value::Array(rows));
                return Ok(());
            }
            for h in &holds {
                println!(
                    "hold\t{}\tsince {}\t{}\t(congvu queue release --address {})",
                    h.address,
                    time(h.since),
                    h.reason,
                    h.address
                );
            }
            if entries.is_empty() {
                println!("the queue is empty");
            }
            for e in &entries {
                for r in &e.recipients {
                    let status = match held.get(&e.id) {
                        Some(login) if r.status == congvu_store::QueueStatus::Pending => {
                            format!("held ({login})")
                        }
                        _ => r.status.as_str().to_string(),
                    };
                    let next = if held.contains_key(&e.id) {
                        "on release".to_string()
                    } else {
                        time(r.next_attempt_at)
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{} attempts\tnext {}",
                        e.id,
                        sender(e),
                        r.address,
                        status,
                        r.attempts,
                        next
                    );
                }
            }
            Ok(())
        }
        QueueCommand::Show { id, config, json } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            let Some(e) = store.queue_entry(id).await? else {
                bail!(not_found(id, StoreError::NotFound(id.to_string())));
            };
            let held = store
                .held_queued()
                .await?
                .into_iter()
                .find(|(h, _)| *h == id);
            if json {
                println!("{}", entry_json(&e, held.as_ref().map(|(_, a)| a)));
                return Ok(());
            }
            println!("id:           {}", e.id);
            println!("from:         {}", sender(&e));
            println!("queued at:    {}", time(e.created_at));
            println!("submitted by: {}", e.submitted_by.as_deref().unwrap_or("-"));
            println!("blob:         {}", e.blob);
            if let Some((_, login)) = &held {
                println!("held:         for {login} (congvu queue release --address {login})");
            }
            for r in &e.recipients {
                println!();
                println!("  to:           {}", r.address);
                println!("  status:       {}", r.status.as_str());
                println!("  attempts:     {}", r.attempts);
                println!("  next attempt: {}", time(r.next_attempt_at));
                if let Some(at) = r.last_attempt_at {
                    println!("  last attempt: {}", time(at));
                }
                if let Some(host) = &r.remote_host {
                    println!("  remote host:  {host}");
                }
                if let Some(reply) = &r.remote_response {
                    println!("  last reply:   {reply}");
                }
                if let Some(error) = &r.last_error {
                    println!("  last error:   {error}");
                }
            }
            Ok(())
        }
        QueueCommand::Retry { id, config, json } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            store.retry_now(id).await.map_err(|e| not_found(id, e))?;
            if let Some(entry) = store.queue_entry(id).await? {
                audit_queue_action(store.as_ref(), "queue.retry", &entry).await?;
            }
            if json {
                println!("{}", serde_json::json!({ "id": id, "retry": "now" }));
            } else {
                println!("queued message {id} will be tried again now");
            }
            Ok(())
        }
        QueueCommand::Delete { id, config, json } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            // Read before deleting, so the audit entry can say what was dropped.
            let entry = store.queue_entry(id).await?;
            store
                .delete_queued(id)
                .await
                .map_err(|e| not_found(id, e))?;
            if let Some(entry) = entry {
                audit_queue_action(store.as_ref(), "queue.delete", &entry).await?;
            }
            if json {
                println!("{}", serde_json::json!({ "id": id, "deleted": true }));
            } else {
                println!("queued message {id} deleted (the sender was not notified)");
            }
            Ok(())
        }
        QueueCommand::Release {
            address,
            config,
            json,
        } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            let address = address.trim().to_lowercase();
            let released = match store.release_outbound(&address, storage::now()).await {
                Ok(n) => n,
                Err(StoreError::NotFound(_)) => bail!(config::ConfigError(format!(
                    "{address} is not held (see `congvu queue list`)"
                ))),
                Err(e) => return Err(e.into()),
            };
            store
                .append_audit(NewAuditEntry {
                    at: storage::now(),
                    actor: "operator (cli)".into(),
                    role: "operator".into(),
                    action: "queue.release".into(),
                    target: address.clone(),
                    detail: format!("outbound hold lifted; {released} held message(s) released"),
                    ..NewAuditEntry::default()
                })
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "address": address, "released": released })
                );
            } else {
                println!("{address}: hold lifted, {released} held message(s) will be sent now");
            }
            Ok(())
        }
    }
}
