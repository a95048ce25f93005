//! `congvu purge --config FILE --message-id ID | --hash HASH`: removes a message from every
//! mailbox that holds it, from the quarantine and from the outbound queue (R-POL-7: a leaked
//! secret document), and reports where it was. Copies are expunged as IMAP EXPUNGE does, so
//! open IMAP sessions see them go; the action is audited (`congvu_web::ops`).

use super::ops::{Ops, Who};
use anyhow::Result;
use congvu_web::ops::{message_key_from_hash, message_key_from_id};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["message_id", "hash"])))]
pub struct PurgeArgs {
    #[arg(long)]
    config: PathBuf,
    /// The Message-ID header's value, with or without angle brackets.
    #[arg(long)]
    message_id: Option<String>,
    /// The BLAKE3 hash of the stored message (`congvu quarantine list --json` shows it).
    #[arg(long)]
    hash: Option<String>,
    /// Who is acting (default: "operator (cli)").
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PurgeArgs) -> Result<()> {
    let key = match (&args.message_id, &args.hash) {
        (Some(id), _) => message_key_from_id(id)?,
        (None, Some(hash)) => message_key_from_hash(hash)?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let ops = Ops::open(&args.config).await?;
    let report = ops
        .purge(&key, ops.blobs.as_ref(), &Who::cli(args.actor))
        .await?;
    if args.json {
        println!(
            "{}",
            json!({
                "copies": report.copies.iter()
                    .map(|c| json!({ "mailbox": c.mailbox, "folder": c.folder, "uid": c.uid }))
                    .collect::<Vec<_>>(),
                "quarantined": report.quarantined,
                "queued": report.queued,
                "blobs": report.blobs.iter().map(|b| b.0.clone()).collect::<Vec<_>>(),
                "files_removed": report.files_removed,
                "bytes_removed": report.bytes_removed,
            })
        );
    } else {
        for c in &report.copies {
            println!("removed: {}\t{}\tuid {}", c.mailbox, c.folder, c.uid);
        }
        for id in &report.quarantined {
            println!("removed: quarantine #{id}");
        }
        for id in &report.queued {
            println!("removed: queue #{id}");
        }
        println!(
            "{} copies in mailboxes, {} in quarantine, {} in the queue",
            report.copies.len(),
            report.quarantined.len(),
            report.queued.len()
        );
        println!(
            "{} message files ({} bytes) removed from disk",
            report.files_removed, report.bytes_removed
        );
    }
    Ok(())
}
