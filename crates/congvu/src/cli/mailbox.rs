//! `congvu mailbox …`: mailboxes. The full lifecycle (suspend, revoke, restore, requests)
//! comes with the accounts work; `add` and `list` are what the mail path needs.

use crate::config::{self, ConfigError};
use crate::storage;
use anyhow::{Result, bail};
use clap::Subcommand;
use congvu_core::Address;
use congvu_core::password::{PasswordRules, hash_password};
use congvu_store::{AccountKind, NewAccount};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Create a mailbox with the given address and password.
    Add {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        password: String,
        /// Full name shown in the directory, e.g. "Nguyễn Văn An".
        #[arg(long, default_value = "")]
        name: String,
        /// person (hộp thư cá nhân) or unit (hộp thư cơ quan).
        #[arg(long, default_value = "person")]
        kind: String,
        #[arg(long)]
        json: bool,
    },
    /// List mailboxes.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: MailboxCommand) -> Result<()> {
    match command {
        MailboxCommand::Add {
            config,
            address,
            password,
            name,
            kind,
            json,
        } => {
            let loaded = config::load(&config, std::env::vars())?;
            let kind = AccountKind::from_token(&kind)
                .filter(|k| *k != AccountKind::Operator)
                .ok_or_else(|| ConfigError(format!("--kind {kind}: use `person` or `unit`")))?;
            let rules = PasswordRules::USER;
            let address = validate_new_address(&address, &loaded.config.server.domains)?;
            let broken = rules.violations(&password);
            if !broken.is_empty() {
                bail!(ConfigError(format!(
                    "--password is too weak: {}.",
                    broken.join("; ")
                )));
            }
            let (store, _blobs) = storage::open(&loaded).await?;
            let account = store
                .create_account(NewAccount {
                    address: address.to_string(),
                    display_name: name,
                    password_hash: hash_password(&password, &storage::random_salt())?,
                    kind,
                    created_at: storage::now(),
                })
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "id": account.id, "address": account.address, "kind": kind.as_str() })
                );
            } else {
                println!("created mailbox {}", account.address);
            }
            Ok(())
        }
        MailboxCommand::List { config, json } => {
            let loaded = config::load(&config, std::env::vars())?;
            let (store, _blobs) = storage::open(&loaded).await?;
            let accounts = store.list_accounts().await?;
            if json {
                let rows: Vec<_> = accounts
                    .iter()
                    .map(|a| {
                        serde_json::json!({ "id": a.id, "address": a.address, "name": a.display_name,
                            "kind": a.kind.as_str(), "state": a.state.as_str() })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for a in accounts {
                    println!(
                        "{}\t{}\t{}\t{}",
                        a.address,
                        a.kind.as_str(),
                        a.state.as_str(),
                        a.display_name
                    );
                }
            }
            Ok(())
        }
    }
}

/// A new address must parse and belong to a hosted domain.
pub fn validate_new_address(address: &str, domains: &[String]) -> Result<Address> {
    let parsed =
        Address::parse(address).map_err(|e| ConfigError(format!("--address {address}: {e}")))?;
    if !domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(parsed.domain()))
    {
        bail!(ConfigError(format!(
            "--address {address}: the domain is not hosted here (hosted: {})",
            domains.join(", ")
        )));
    }
    Ok(parsed)
}
