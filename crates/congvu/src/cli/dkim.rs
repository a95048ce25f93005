//! `congvu dkim generate`: DKIM keys for a hosted domain (RFC 6376), an Ed25519 key (RFC 8463)
//! and an RSA-2048 key (for receivers that do not know Ed25519 yet), written under
//! `DATA_DIR/dkim/` with mode 0600; prints the DNS records to publish: one TXT line per key,
//! plus the SPF (RFC 7208) and DMARC (RFC 7489) records the domain should have.

use crate::config::{self, ConfigError};
use anyhow::Result;
use clap::Subcommand;
use congvu_smtp::outbound::{DkimAlgorithm, generate_dkim_key};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Generate an Ed25519 and an RSA-2048 key for DOMAIN and print the DNS records.
    Generate {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        domain: String,
        /// Selector prefix; the keys get SELECTOR-ed and SELECTOR-rsa (default: cvYYYYMM).
        #[arg(long)]
        selector: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: DkimCommand) -> Result<()> {
    match command {
        DkimCommand::Generate {
            config,
            domain,
            selector,
            json,
        } => {
            let loaded = config::load(&config, std::env::vars())?;
            let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            if !loaded
                .config
                .server
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&domain))
            {
                return Err(ConfigError(format!(
                    "--domain {domain}: not a hosted domain of this server ([server] domains)"
                ))
                .into());
            }
            let selector =
                selector.unwrap_or_else(|| chrono::Utc::now().format("cv%Y%m").to_string());
            let dir = loaded.data_dir().join("dkim");
            let mut records = Vec::new();
            for (suffix, algorithm) in [("ed", DkimAlgorithm::Ed25519), ("rsa", DkimAlgorithm::Rsa)]
            {
                let key =
                    generate_dkim_key(&dir, &domain, &format!("{selector}-{suffix}"), algorithm)
                        .map_err(|e| ConfigError(format!("--selector {selector}: {e}")))?;
                records.push((
                    key.selector.clone(),
                    algorithm,
                    key.dns_record(),
                    key.dns_value(),
                ));
            }
            let hostname = &loaded.config.server.hostname;
            let spf = format!("{domain} TXT \"v=spf1 mx a:{hostname} -all\"");
            let dmarc = format!(
                "_dmarc.{domain} TXT \"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@{domain}\""
            );
            if json {
                let keys: Vec<_> = records
                    .iter()
                    .map(|(selector, algorithm, line, value)| {
                        serde_json::json!({ "selector": selector, "algorithm": algorithm.as_str(),
                            "name": format!("{selector}._domainkey.{domain}"), "value": value, "record": line })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "domain": domain, "directory": dir, "keys": keys, "spf": spf, "dmarc": dmarc })
                );
            } else {
                println!("; DKIM keys written under {} (mode 0600)", dir.display());
                println!("; publish these records in the zone of {domain}:");
                for (_, _, line, _) in &records {
                    println!("{line}");
                }
                println!("{spf}");
                println!("{dmarc}");
                println!("; restart `congvu serve` to sign with the new keys");
            }
            Ok(())
        }
    }
}
