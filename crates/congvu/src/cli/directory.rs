//! `congvu directory …`: the directory (danh bạ, R-ACC-4) from the shell: search it, or
//! export it as CSV (RFC 4180) or vCard 4.0 (RFC 6350) to standard output.
//!
//! Both read the same entries as the LDAP server (`congvu_directory::entries`): mailboxes that
//! are not revoked, never a password hash.

use crate::config::{self, ConfigError};
use crate::storage;
use anyhow::{Result, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use congvu_directory::{Query, export};
use congvu_store::{Store, UnitId};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Vcard,
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Write the directory to standard output as CSV or vCard 4.0.
    Export {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum)]
        format: Format,
        /// Only this unit and the units below it: its id or its unit mailbox address.
        #[arg(long)]
        unit: Option<String>,
    },
    /// Find mailboxes by name (with or without diacritics), address, unit or title.
    Search {
        /// Words to look for, e.g. "nguyen van an" or "Nguyễn Văn An".
        query: String,
        #[arg(long)]
        config: PathBuf,
        /// Only this unit and the units below it: its id or its unit mailbox address.
        #[arg(long)]
        unit: Option<String>,
        /// Only mailboxes whose title contains this.
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: DirectoryCommand) -> Result<()> {
    match command {
        DirectoryCommand::Export {
            config,
            format,
            unit,
        } => {
            let (store, domain) = open(&config).await?;
            let within = resolve_unit(&*store, &domain, unit.as_deref()).await?;
            let all = congvu_directory::entries(&*store).await?;
            let chosen = congvu_directory::search(
                &all,
                &Query {
                    within,
                    ..Default::default()
                },
            );
            let text = match format {
                Format::Csv => export::to_csv(chosen),
                Format::Vcard => export::to_vcards(chosen),
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(())
        }
        DirectoryCommand::Search {
            query,
            config,
            unit,
            title,
            json,
        } => {
            let (store, domain) = open(&config).await?;
            let within = resolve_unit(&*store, &domain, unit.as_deref()).await?;
            let all = congvu_directory::entries(&*store).await?;
            let found = congvu_directory::search(
                &all,
                &Query {
                    text: Some(query),
                    title,
                    within,
                    ..Default::default()
                },
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
                return Ok(());
            }
            if found.is_empty() {
                eprintln!("không tìm thấy (no match)");
            }
            for e in found {
                let mut line = format!("{} <{}>", e.display_name, e.address);
                if !e.title.is_empty() {
                    line.push_str(&format!(" — {}", e.title));
                }
                let path = export::path_text(e);
                if !path.is_empty() {
                    line.push_str(&format!(" — {path}"));
                }
                if !e.phone.is_empty() {
                    line.push_str(&format!(" — {}", e.phone));
                }
                if e.suspended {
                    line.push_str(" (khóa tạm thời / suspended)");
                }
                println!("{line}");
            }
            Ok(())
        }
    }
}

async fn open(config_path: &std::path::Path) -> Result<(std::sync::Arc<dyn Store>, String)> {
    let loaded = config::load(config_path, std::env::vars())?;
    let domain = loaded
        .config
        .server
        .domains
        .first()
        .cloned()
        .unwrap_or_default();
    let (store, _blobs) = storage::open(&loaded).await?;
    Ok((store, domain))
}

/// A unit named by its id, its unit mailbox's address, or that address's local part.
async fn resolve_unit(
    store: &dyn Store,
    domain: &str,
    text: Option<&str>,
) -> Result<Option<UnitId>> {
    let Some(text) = text.map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() {
        bail!(ConfigError(
            "--unit is empty: give a unit's id or address".into()
        ));
    }
    if let Ok(id) = text.parse::<UnitId>() {
        return match store.unit_by_id(id).await? {
            Some(unit) => Ok(Some(unit.id)),
            None => Err(anyhow!("there is no unit with id {id}")),
        };
    }
    let address = if text.contains('@') {
        text.to_lowercase()
    } else {
        format!("{}@{domain}", text.to_lowercase())
    };
    let account = store
        .account_by_address(&address)
        .await?
        .ok_or_else(|| anyhow!("there is no unit {text} (give its id or its address)"))?;
    let unit = store
        .unit_by_account(account.id)
        .await?
        .ok_or_else(|| anyhow!("{address} is not a unit mailbox"))?;
    Ok(Some(unit.id))
}
