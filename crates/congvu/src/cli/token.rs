//! `congvu token create|list|revoke`: API tokens for scripts that call the JSON API
//! (`Authorization: Bearer cvt_…`). A token acts with the role of its mailbox; the secret is
//! printed once and only its hash is stored. Creating and revoking are audited.

use super::ops::{Ops, Who};
use crate::storage;
use anyhow::{Result, anyhow};
use clap::Subcommand;
use congvu_store::{ApiCredentialKind, NewApiCredential};
use congvu_web::auth::{TOKEN_PREFIX, new_secret, secret_hash};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a mailbox; prints "token: …" once.
    Create {
        #[arg(long)]
        config: PathBuf,
        /// The mailbox the token acts as.
        #[arg(long)]
        address: String,
        /// What the token is for ("sao lưu hằng đêm").
        #[arg(long)]
        label: String,
        /// Optional lifetime such as 90d; without it the token lasts until revoked.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (all, or of one mailbox); never the secrets.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id.
    Revoke {
        #[arg(long)]
        config: PathBuf,
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            config,
            address,
            label,
            expires,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let account = ops.account(&address).await?;
            let now = storage::now();
            let expires_at = match expires {
                Some(d) => Some(
                    now + crate::config::parse_duration(&d)
                        .map_err(|e| crate::config::ConfigError(format!("--expires: {e}")))?
                        .as_secs() as i64,
                ),
                None => None,
            };
            let secret = new_secret(TOKEN_PREFIX);
            let made = ops
                .store
                .create_api_credential(NewApiCredential {
                    token_hash: secret_hash(&secret),
                    account: account.id,
                    kind: ApiCredentialKind::Token,
                    label: label.clone(),
                    restricted: String::new(),
                    created_at: now,
                    expires_at,
                })
                .await?;
            ops.audit(
                &Who::cli(None),
                "token.create",
                &account.address,
                &format!("token {} {label:?}", made.id),
            )
            .await?;
            if json {
                println!(
                    "{}",
                    json!({ "id": made.id, "address": account.address, "label": label,
                        "expires_at": expires_at, "token": secret })
                );
            } else {
                println!("token {} for {} ({label})", made.id, account.address);
                println!("token: {secret}");
                println!("(shown once: keep it secret; send it as Authorization: Bearer …)");
            }
            Ok(())
        }
        TokenCommand::List {
            config,
            address,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let account = match &address {
                Some(a) => Some(ops.account(a).await?.id),
                None => None,
            };
            let tokens = ops
                .store
                .list_api_credentials(ApiCredentialKind::Token, account)
                .await?;
            let mut rows = Vec::new();
            for t in tokens {
                let owner = ops
                    .store
                    .account_by_id(t.account)
                    .await?
                    .map(|a| a.address)
                    .unwrap_or_default();
                rows.push((t, owner));
            }
            if json {
                let out: Vec<_> = rows
                    .iter()
                    .map(|(t, owner)| {
                        json!({ "id": t.id, "address": owner, "label": t.label,
                            "created_at": t.created_at, "expires_at": t.expires_at,
                            "last_used_at": t.last_used_at })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(out));
            } else {
                for (t, owner) in rows {
                    println!(
                        "{}\t{owner}\t{}\tlast used {}",
                        t.id,
                        t.label,
                        t.last_used_at
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
            Ok(())
        }
        TokenCommand::Revoke { config, id, json } => {
            let ops = Ops::open(&config).await?;
            let token = ops
                .store
                .list_api_credentials(ApiCredentialKind::Token, None)
                .await?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| anyhow!("there is no API token {id}"))?;
            ops.store.revoke_api_credential(id).await?;
            let owner = ops
                .store
                .account_by_id(token.account)
                .await?
                .map(|a| a.address)
                .unwrap_or_default();
            ops.audit(
                &Who::cli(None),
                "token.revoke",
                &owner,
                &format!("token {id} {:?}", token.label),
            )
            .await?;
            if json {
                println!("{}", json!({ "id": id, "revoked": true }));
            } else {
                println!("token {id} revoked");
            }
            Ok(())
        }
    }
}
