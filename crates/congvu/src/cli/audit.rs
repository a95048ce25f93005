//! `congvu audit list|verify`: the audit log (R-POL-10).
//!
//! `verify` recomputes the BLAKE3 hash chain (`store::audit_chain`) and exits 1 naming the
//! first broken entry when a row was edited, inserted or removed out of band.

use super::mailbox::format_time;
use super::ops::Ops;
use anyhow::{Result, bail};
use clap::Subcommand;
use congvu_store::audit_chain::verify_chain;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print every entry, oldest first.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain; exit 1 with the first broken entry.
    Verify {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::List { config, json } => {
            let ops = Ops::open(&config).await?;
            let entries = ops.store.list_audit().await?;
            if json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        let x = &e.entry;
                        json!({ "id": e.id, "at": x.at, "actor": x.actor, "role": x.role,
                            "action": x.action, "target": x.target,
                            "requested_by": x.requested_by, "approved_by": x.approved_by,
                            "source_ip": x.source_ip, "detail": x.detail,
                            "prev_hash": e.prev_hash, "hash": e.hash })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for e in entries {
                    let x = &e.entry;
                    let mut line = format!(
                        "{}\t{}\t{} ({})\t{}\t{}",
                        e.id,
                        format_time(x.at),
                        x.actor,
                        x.role,
                        x.action,
                        x.target
                    );
                    if !x.requested_by.is_empty() {
                        line.push_str(&format!("\trequested by {}", x.requested_by));
                    }
                    if !x.approved_by.is_empty() {
                        line.push_str(&format!("\tapproved by {}", x.approved_by));
                    }
                    if !x.detail.is_empty() {
                        line.push_str(&format!("\t{}", x.detail));
                    }
                    println!("{line}");
                }
            }
            Ok(())
        }
        AuditCommand::Verify { config, json } => {
            let ops = Ops::open(&config).await?;
            let entries = ops.store.list_audit().await?;
            match verify_chain(&entries) {
                Ok(n) => {
                    let last = entries.last().map(|e| e.hash.as_str()).unwrap_or("");
                    if json {
                        println!("{}", json!({ "ok": true, "entries": n, "last_hash": last }));
                    } else {
                        println!("audit log intact: {n} entries, last hash {last}");
                    }
                    Ok(())
                }
                Err(broken) => {
                    if json {
                        println!(
                            "{}",
                            json!({ "ok": false, "entry": broken.id, "reason": broken.reason })
                        );
                    }
                    bail!("the audit log is broken: {broken}")
                }
            }
        }
    }
}
