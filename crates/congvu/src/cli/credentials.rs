//! `congvu mailbox app-password …` and `congvu mailbox totp …`: the per-device app passwords
//! mail programs log in with, and the TOTP second factor (R-POL-2), as the operator's commands.
//!
//! Keeps true: an app password and a TOTP secret are shown once, when made, and only their
//! hash (app passwords) or the secret itself (TOTP, which the server must keep to check codes)
//! is stored; every change is written to the audit log. The login rules that use them live in
//! `congvu_store::login`.

use crate::config;
use crate::storage;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use congvu_core::password::hash_password;
use congvu_store::{Account, NewAppPassword, NewAuditEntry, Store, StoreError};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// App passwords a mailbox may hold: each costs one Argon2 verification on a failed login.
const MAX_APP_PASSWORDS: usize = 10;
/// Who appears in the audit log for commands run at the shell.
const CLI_ACTOR: &str = "operator (cli)";

#[derive(Debug, clap::Args)]
pub struct AddressArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub address: String,
    /// Names the device, e.g. "Thunderbird ở cơ quan" or "điện thoại".
    #[arg(long)]
    pub label: String,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordCommand {
    /// Make an app password for one device (printed once: "password: …").
    Add(LabelArgs),
    /// List a mailbox's app passwords (labels and dates, never the passwords).
    List(AddressArgs),
    /// Remove the app password of one device.
    Revoke(LabelArgs),
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turn the second factor on: prints the otpauth:// URI and the secret once.
    Enable(AddressArgs),
    /// Turn the second factor off.
    Disable(AddressArgs),
}

struct Opened {
    store: Arc<dyn Store>,
    domains: Vec<String>,
}

async fn open(config_path: &Path) -> Result<Opened> {
    let loaded = config::load(config_path, std::env::vars())?;
    let (store, _blobs) = storage::open(&loaded).await?;
    Ok(Opened {
        store,
        domains: loaded.config.server.domains.clone(),
    })
}

async fn account(store: &dyn Store, address: &str) -> Result<Account> {
    let address = address.trim().to_lowercase();
    store
        .account_by_address(&address)
        .await?
        .ok_or_else(|| anyhow!("no mailbox {address}"))
}

async fn audit(
    store: &dyn Store,
    actor: Option<String>,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    store
        .append_audit(NewAuditEntry {
            at: storage::now(),
            actor: actor.unwrap_or_else(|| CLI_ACTOR.to_string()),
            role: "operator".into(),
            action: action.into(),
            target: target.into(),
            detail: detail.into(),
            ..NewAuditEntry::default()
        })
        .await
        .context("writing the audit log")?;
    Ok(())
}

/// 20 letters and digits without look-alikes (0/O, 1/l/I), in groups of five so it can be
/// typed on a phone: about 100 bits, well beyond guessing through the login delays.
fn random_app_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

pub async fn app_password(command: AppPasswordCommand) -> Result<()> {
    match command {
        AppPasswordCommand::Add(args) => {
            let opened = open(&args.config).await?;
            let store = opened.store.as_ref();
            let account = account(store, &args.address).await?;
            if store.app_passwords(account.id).await?.len() >= MAX_APP_PASSWORDS {
                bail!(
                    "{} already has {MAX_APP_PASSWORDS} app passwords; revoke one first",
                    account.address
                );
            }
            let password = random_app_password();
            let hash = hash_password(&password, &storage::random_salt())?;
            let made = store
                .add_app_password(NewAppPassword {
                    account: account.id,
                    label: args.label.clone(),
                    password_hash: hash,
                    created_at: storage::now(),
                })
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists(_) => anyhow!(
                        "{} already has an app password labelled {:?}; revoke it first or \
                         choose another label",
                        account.address,
                        args.label
                    ),
                    other => other.into(),
                })?;
            audit(
                store,
                args.actor,
                "mailbox.app-password.add",
                &account.address,
                &made.label,
            )
            .await?;
            if args.json {
                println!(
                    "{}",
                    json!({ "address": account.address, "label": made.label, "password": password })
                );
            } else {
                println!("password: {password}");
                println!(
                    "(app password for {:?}: shown only now; use it instead of the main password \
                     in that mail program, for IMAP, POP3 and SMTP)",
                    made.label
                );
            }
            Ok(())
        }
        AppPasswordCommand::List(args) => {
            let opened = open(&args.config).await?;
            let store = opened.store.as_ref();
            let account = account(store, &args.address).await?;
            let list = store.app_passwords(account.id).await?;
            if args.json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|p| {
                        json!({
                            "label": p.label,
                            "created_at": p.created_at,
                            "last_used_at": p.last_used_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else if list.is_empty() {
                println!("{} has no app passwords", account.address);
            } else {
                for p in &list {
                    let used = p
                        .last_used_at
                        .map_or("never used".to_string(), |t| format!("last used {t}"));
                    println!("{}\tcreated {}\t{used}", p.label, p.created_at);
                }
            }
            Ok(())
        }
        AppPasswordCommand::Revoke(args) => {
            let opened = open(&args.config).await?;
            let store = opened.store.as_ref();
            let account = account(store, &args.address).await?;
            store
                .revoke_app_password(account.id, &args.label)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(_) => anyhow!(
                        "{} has no app password labelled {:?}",
                        account.address,
                        args.label
                    ),
                    other => other.into(),
                })?;
            audit(
                store,
                args.actor,
                "mailbox.app-password.revoke",
                &account.address,
                args.label.trim(),
            )
            .await?;
            if args.json {
                println!(
                    "{}",
                    json!({ "address": account.address, "label": args.label.trim(), "revoked": true })
                );
            } else {
                println!(
                    "app password {:?} of {} revoked",
                    args.label.trim(),
                    account.address
                );
            }
            Ok(())
        }
    }
}

pub async fn totp(command: TotpCommand) -> Result<()> {
    match command {
        TotpCommand::Enable(args) => {
            let opened = open(&args.config).await?;
            let store = opened.store.as_ref();
            let account = account(store, &args.address).await?;
            let secret: [u8; congvu_core::totp::SECRET_LEN] = rand::random();
            // The issuer an authenticator app shows: the province's mail domain.
            let issuer = opened
                .domains
                .first()
                .map_or("congvu".to_string(), |d| format!("congvu {d}"));
            let uri = congvu_core::totp::otpauth_uri(&secret, &issuer, &account.address)?;
            store
                .set_totp(account.id, Some(&secret), storage::now())
                .await?;
            audit(
                store,
                args.actor,
                "mailbox.totp.enable",
                &account.address,
                "",
            )
            .await?;
            let base32 = congvu_core::totp::secret_base32(&secret);
            if args.json {
                println!(
                    "{}",
                    json!({ "address": account.address, "otpauth_uri": uri, "secret": base32 })
                );
            } else {
                println!("otpauth: {uri}");
                println!("secret: {base32}");
                println!(
                    "(shown only now: add it to an authenticator app; mail programs must now use \
                     app passwords)"
                );
            }
            Ok(())
        }
        TotpCommand::Disable(args) => {
            let opened = open(&args.config).await?;
            let store = opened.store.as_ref();
            let account = account(store, &args.address).await?;
            store.set_totp(account.id, None, storage::now()).await?;
            audit(
                store,
                args.actor,
                "mailbox.totp.disable",
                &account.address,
                "",
            )
            .await?;
            if args.json {
                println!("{}", json!({ "address": account.address, "totp": false }));
            } else {
                println!("second factor turned off for {}", account.address);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_passwords_are_random_and_typeable() {
        let a = random_app_password();
        let b = random_app_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(a.split('-').count(), 4);
        assert!(
            a.chars()
                .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert!(!a.contains(['0', '1', 'l', 'o', 'i']));
    }
}
