//! `congvu init`: a new installation in a directory.

use crate::config::{self, ConfigError};
use crate::{storage, tls};
use anyhow::{Context, Result, bail};
use congvu_core::password::{PasswordRules, hash_password};
use congvu_store::{AccountKind, NewAccount};
use std::path::Path;

pub struct Initialised {
    pub config_path: std::path::PathBuf,
    pub operator: String,
    pub password: String,
}

/// Writes `dir/congvu.toml`, `dir/tls/{cert,key}.pem`, creates the store and the operator
/// account `postmaster@DOMAIN` (RFC 5321 §4.5.1 requires postmaster to exist anyway).
pub async fn init(dir: &Path, domain: &str, hostname: Option<&str>) -> Result<Initialised> {
    let domain = domain.trim().to_ascii_lowercase();
    let operator = crate::cli::mailbox::validate_new_address(
        &format!("postmaster@{domain}"),
        std::slice::from_ref(&domain),
    )
    .map_err(|_| ConfigError(format!("--domain {domain}: not a domain name")))?;
    let hostname = hostname
        .map(str::to_string)
        .unwrap_or_else(|| format!("mail.{domain}"));
    let config_path = dir.join("congvu.toml");
    if config_path.exists() {
        bail!(ConfigError(format!(
            "{} already exists; refusing to overwrite an installation (choose another --dir)",
            config_path.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&config_path, config::sample(&domain, &hostname))?;
    tls::write_self_signed(
        &hostname,
        &dir.join("tls/cert.pem"),
        &dir.join("tls/key.pem"),
    )?;

    let loaded = config::load(&config_path, std::iter::empty())?;
    let (store, _blobs) = storage::open(&loaded).await?;
    let password = storage::random_password();
    debug_assert!(PasswordRules::ADMIN.violations(&password).is_empty());
    store
        .create_account(NewAccount {
            address: operator.to_string(),
            display_name: "Quản trị hệ thống (Sở TT&TT)".to_string(),
            password_hash: hash_password(&password, &storage::random_salt())?,
            kind: AccountKind::Operator,
            created_at: storage::now(),
        })
        .await?;
    Ok(Initialised {
        config_path,
        operator: operator.to_string(),
        password,
    })
}

pub async fn run(dir: &Path, domain: &str, hostname: Option<&str>, json: bool) -> Result<()> {
    let done = init(dir, domain, hostname).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "config": done.config_path, "operator": done.operator, "password": done.password })
        );
    } else {
        println!("wrote {}", done.config_path.display());
        println!("operator: {}", done.operator);
        println!("password: {}", done.password);
        println!("(the password is shown only this once; store it safely)");
        println!(
            "start with: congvu serve --config {}",
            done.config_path.display()
        );
    }
    Ok(())
}
