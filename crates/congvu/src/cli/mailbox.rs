//! `congvu mailbox …`: mailboxes and their lifecycle (R-ACC-2, R-ACC-5, R-POL-1, R-POL-2).
//!
//! `add` has two forms: `--address A --password P` (the operator chooses both) and
//! `--name "FULL NAME" --unit UNIT` (the address is made from the name by the `[naming]`
//! rules and a one-time password is printed, which must be changed at first use).
//! Lifecycle commands go through `ops`, which checks the lifecycle table and writes the audit
//! log. A line that prints a one-time password says so ("password: …").

use super::ops::{Ops, Who, rules_for, to_lifecycle};
use crate::config::ConfigError;
use crate::storage;
use anyhow::{Result, bail};
use clap::Subcommand;
use congvu_core::Address;
use congvu_core::lifecycle::{LifecycleAction, PasswordState, password_state};
use congvu_core::password::hash_password;
use congvu_store::{Account, AccountDetails, AccountKind, NewAccount};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Create a mailbox: either --address and --password, or --name and --unit (address and
    /// one-time password generated).
    Add {
        #[arg(long)]
        config: PathBuf,
        /// The address (with --password); leave out to generate it from --name.
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Full name shown in the directory, e.g. "Nguyễn Văn An".
        #[arg(long, default_value = "")]
        name: String,
        /// The unit (id or unit mailbox address); required when the address is generated.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value = "")]
        title: String,
        #[arg(long, default_value = "")]
        phone: String,
        /// person (hộp thư cá nhân) or unit (hộp thư cơ quan), with --address.
        #[arg(long, default_value = "person")]
        kind: String,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List mailboxes (of a unit and the units below it with --unit).
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a mailbox: details, state, password state and lifecycle history.
    Show {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        json: bool,
    },
    /// Suspend (khóa tạm thời): no login, mail still delivered.
    Suspend(StateArgs),
    /// Resume a suspended mailbox.
    Resume(StateArgs),
    /// Revoke (thu hồi): no login, inbound mail refused, content kept for the retention period.
    Revoke(StateArgs),
    /// Restore (khôi phục) a suspended or revoked mailbox with its content.
    Restore(StateArgs),
    /// Purge a revoked mailbox whose `[policy] revoked_retention` has run out: its content is
    /// removed for good and the address stays reserved. The server also does this hourly.
    Purge(StateArgs),
    /// Set a one-time password (printed once) that must be changed at first use.
    ResetPassword {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a password; exit 2 naming every broken rule when it is refused.
    Passwd {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change directory details (name, unit, title, phone).
    Update {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Grant RFC 4314 rights on a (unit) mailbox to a user, who then sees it over IMAP as
    /// Shared/<mailbox>/… (see cli/grant.rs).
    Grant(super::grant::GrantArgs),
    /// Take every right a user holds on a mailbox away.
    RevokeGrant(super::grant::RevokeArgs),
    /// List the grants on a mailbox (--mailbox) or held by a user (--to).
    Grants(super::grant::ListArgs),
    /// Per-device app passwords for mail programs (IMAP, POP3, SMTP); see cli/credentials.rs.
    #[command(subcommand)]
    AppPassword(super::credentials::AppPasswordCommand),
    /// The TOTP second factor for the web; mail programs then need app passwords.
    #[command(subcommand)]
    Totp(super::credentials::TotpCommand),
    /// Automatic forwarding (R-POL-6): `--to B` adds a target (only inside
    /// `[policy] government_domains`; exit 2 otherwise), `--remove B` takes one away, neither
    /// lists them. The mailbox keeps its own copy.
    Forward(ForwardArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("change").args(["to", "remove"])))]
pub struct ForwardArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    address: String,
    /// Add this forwarding target.
    #[arg(long)]
    to: Option<String>,
    /// Remove this forwarding target.
    #[arg(long)]
    remove: Option<String>,
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    address: String,
    #[arg(long, default_value = "")]
    reason: String,
    /// Who is acting (default: "operator (cli)").
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(command: MailboxCommand) -> Result<()> {
    match command {
        MailboxCommand::Add {
            config,
            address,
            password,
            name,
            unit,
            title,
            phone,
            kind,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let who = Who::cli(actor);
            let unit = match unit {
                Some(u) => Some(ops.unit(&u).await?),
                None => None,
            };
            let (account, one_time) = match address {
                Some(address) => {
                    let Some(password) = password else {
                        bail!(ConfigError(
                            "--password is required with --address (or give --name and --unit \
                             to generate both)"
                                .into()
                        ));
                    };
                    let kind = AccountKind::from_token(&kind)
                        .filter(|k| *k != AccountKind::Operator)
                        .ok_or_else(|| {
                            ConfigError(format!("--kind {kind}: use `person` or `unit`"))
                        })?;
                    let address =
                        validate_new_address(&address, &ops.loaded.config.server.domains)?;
                    let broken = rules_for(kind).violations(&password);
                    if !broken.is_empty() {
                        bail!(ConfigError(format!(
                            "--password is too weak: {}.",
                            broken.join("; ")
                        )));
                    }
                    let now = storage::now();
                    let account = ops
                        .store
                        .create_account_with_details(
                            NewAccount {
                                address: address.to_string(),
                                display_name: name,
                                password_hash: hash_password(&password, &storage::random_salt())?,
                                kind,
                                created_at: now,
                            },
                            AccountDetails {
                                unit: unit.as_ref().map(|u| u.id),
                                title,
                                phone,
                                must_change_password: false,
                                password_changed_at: now,
                                state_changed_at: None,
                            },
                        )
                        .await?;
                    ops.audit(&who, "mailbox.add", &account.address, "").await?;
                    (account, None)
                }
                None => {
                    if name.trim().is_empty() {
                        bail!(ConfigError(
                            "give --name \"FULL NAME\" and --unit UNIT (or --address and --password)"
                                .into()
                        ));
                    }
                    let Some(unit) = unit else {
                        bail!(ConfigError(
                            "--unit is required when the address is made from --name".into()
                        ));
                    };
                    let (account, pw) = ops.add_person(&name, &unit, &title, &phone, &who).await?;
                    (account, Some(pw))
                }
            };
            if json {
                println!(
                    "{}",
                    json!({ "id": account.id, "address": account.address,
                        "kind": account.kind.as_str(), "password": one_time })
                );
            } else {
                println!("created mailbox {}", account.address);
                println!("address: {}", account.address);
                if let Some(pw) = one_time {
                    println!("password: {pw}");
                    println!("(one-time password: it must be changed at first use)");
                }
            }
            Ok(())
        }
        MailboxCommand::List { config, unit, json } => {
            let ops = Ops::open(&config).await?;
            let within = match unit {
                Some(u) => Some(ops.unit(&u).await?),
                None => None,
            };
            let rows = ops.list_mailboxes(within.map(|u| u.id)).await?;
            if json {
                let out: Vec<_> = rows.iter().map(|(a, d)| account_json(a, d)).collect();
                println!("{}", serde_json::Value::Array(out));
            } else {
                for (a, d) in rows {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        a.address,
                        a.kind.as_str(),
                        a.state.as_str(),
                        a.display_name,
                        d.title
                    );
                }
            }
            Ok(())
        }
        MailboxCommand::Show {
            config,
            address,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let a = ops.account(&address).await?;
            let d = ops.details(&a).await?;
            let unit = match d.unit {
                Some(id) => ops.store.unit_by_id(id).await?,
                None => ops.store.unit_by_account(a.id).await?,
            };
            let pw = password_state(
                d.password_changed_at,
                storage::now(),
                ops.max_age(a.kind),
                d.must_change_password,
            );
            let history = ops.store.state_history(a.id).await?;
            let forwards = ops.store.forwards(a.id).await?;
            if json {
                let mut v = account_json(&a, &d);
                v["forwards"] = json!(forwards);
                v["unit_name"] = json!(unit.as_ref().map(|u| u.name.clone()));
                v["password_state"] = json!(password_state_text(pw));
                v["history"] = history
                    .iter()
                    .map(|h| {
                        json!({ "from": h.from.as_str(), "to": h.to.as_str(), "at": h.at,
                            "reason": h.reason })
                    })
                    .collect();
                println!("{v}");
            } else {
                println!("address: {}", a.address);
                println!("name: {}", a.display_name);
                println!("kind: {}", a.kind.as_str());
                println!("state: {}", a.state.as_str());
                if let Some(u) = &unit {
                    println!("unit: {} (id {})", u.name, u.id);
                }
                println!("title: {}", d.title);
                println!("phone: {}", d.phone);
                println!("password state: {}", password_state_text(pw));
                for f in &forwards {
                    println!("forward: {f}");
                }
                for h in history {
                    println!(
                        "history: {} {} -> {} {}",
                        format_time(h.at),
                        h.from.as_str(),
                        h.to.as_str(),
                        h.reason
                    );
                }
            }
            Ok(())
        }
        MailboxCommand::Grant(args) => super::grant::grant(args).await,
        MailboxCommand::RevokeGrant(args) => super::grant::revoke(args).await,
        MailboxCommand::Grants(args) => super::grant::list(args).await,
        MailboxCommand::AppPassword(command) => super::credentials::app_password(command).await,
        MailboxCommand::Totp(command) => super::credentials::totp(command).await,
        MailboxCommand::Forward(args) => forward(args).await,
        MailboxCommand::Suspend(args) => change_state(args, LifecycleAction::Suspend).await,
        MailboxCommand::Resume(args) => change_state(args, LifecycleAction::Resume).await,
        MailboxCommand::Revoke(args) => change_state(args, LifecycleAction::Revoke).await,
        MailboxCommand::Restore(args) => change_state(args, LifecycleAction::Restore).await,
        MailboxCommand::Purge(args) => purge(args).await,
        MailboxCommand::ResetPassword {
            config,
            address,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let pw = ops.reset_password(&address, &Who::cli(actor)).await?;
            if json {
                println!("{}", json!({ "address": address, "password": pw }));
            } else {
                println!("password: {pw}");
                println!("(one-time password: it must be changed at first use)");
            }
            Ok(())
        }
        MailboxCommand::Passwd {
            config,
            address,
            password,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            ops.set_password(&address, &password, &Who::cli(actor))
                .await?;
            if json {
                println!("{}", json!({ "address": address, "changed": true }));
            } else {
                println!("password changed for {address}");
            }
            Ok(())
        }
        MailboxCommand::Update {
            config,
            address,
            name,
            unit,
            title,
            phone,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let unit = match unit {
                Some(u) => Some(ops.unit(&u).await?),
                None => None,
            };
            ops.update(
                &address,
                name.as_deref(),
                unit.as_ref(),
                title.as_deref(),
                phone.as_deref(),
                &Who::cli(actor),
            )
            .await?;
            if json {
                println!("{}", json!({ "address": address, "updated": true }));
            } else {
                println!("updated {address}");
            }
            Ok(())
        }
    }
}

async fn forward(args: ForwardArgs) -> Result<()> {
    let ops = Ops::open(&args.config).await?;
    let who = Who::cli(args.actor);
    if let Some(to) = &args.to {
        ops.add_forward(
            &args.address,
            to,
            &ops.loaded.config.policy.government_domains,
            &who,
        )
        .await?;
        if !args.json {
            println!(
                "{} now forwards to {}",
                args.address,
                to.trim().to_lowercase()
            );
        }
    } else if let Some(to) = &args.remove {
        ops.remove_forward(&args.address, to, &who).await?;
        if !args.json {
            println!(
                "{} no longer forwards to {}",
                args.address,
                to.trim().to_lowercase()
            );
        }
    }
    let targets = ops.forwards(&args.address).await?;
    if args.json {
        println!(
            "{}",
            json!({ "address": args.address, "forwards": targets })
        );
    } else if args.to.is_none() && args.remove.is_none() {
        if targets.is_empty() {
            println!("{} forwards nowhere", args.address);
        }
        for t in targets {
            println!("forward: {t}");
        }
    }
    Ok(())
}

async fn change_state(args: StateArgs, action: LifecycleAction) -> Result<()> {
    let ops = Ops::open(&args.config).await?;
    let account = ops
        .change_state(&args.address, action, &args.reason, &Who::cli(args.actor))
        .await?;
    if args.json {
        println!(
            "{}",
            json!({ "address": account.address, "state": account.state.as_str() })
        );
    } else {
        println!(
            "{} is now {}",
            account.address,
            to_lifecycle(account.state).as_str()
        );
    }
    Ok(())
}

async fn purge(args: StateArgs) -> Result<()> {
    let ops = Ops::open(&args.config).await?;
    let reason = if args.reason.is_empty() {
        "purged by the operator after the retention period"
    } else {
        &args.reason
    };
    let (purge, garbage) = congvu_web::retention::purge_mailbox(
        &ops,
        ops.blobs.as_ref(),
        &args.address,
        reason,
        &Who::cli(args.actor),
    )
    .await?;
    if args.json {
        println!(
            "{}",
            json!({ "address": purge.address, "state": "purged",
                "folders": purge.removed.folders, "messages": purge.removed.messages,
                "files_removed": garbage.messages, "bytes_removed": garbage.bytes })
        );
    } else {
        println!(
            "{} is now purged: {} folders and {} messages removed; {} message files ({} bytes) no other mailbox held were deleted",
            purge.address,
            purge.removed.folders,
            purge.removed.messages,
            garbage.messages,
            garbage.bytes
        );
    }
    Ok(())
}

fn account_json(a: &Account, d: &AccountDetails) -> serde_json::Value {
    json!({ "id": a.id, "address": a.address, "name": a.display_name, "kind": a.kind.as_str(),
        "state": a.state.as_str(), "unit": d.unit, "title": d.title, "phone": d.phone,
        "must_change_password": d.must_change_password,
        "password_changed_at": d.password_changed_at })
}

fn password_state_text(s: PasswordState) -> String {
    match s {
        PasswordState::Valid => "valid".into(),
        PasswordState::ExpiresSoon(days) => format!("expires in {days} days"),
        PasswordState::Expired => "expired".into(),
        PasswordState::MustChange => "must be changed at next login".into(),
    }
}

/// Seconds since the epoch as an RFC 3339 time in UTC.
pub fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| secs.to_string())
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
