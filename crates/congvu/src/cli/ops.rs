//! What the operator's commands do to units and mailboxes, shared by `congvu unit …`,
//! `congvu mailbox …` and approved requests (`congvu request approve`).
//!
//! Keeps true:
//! - Every change goes through the rule that governs it first: the lifecycle table
//!   (`core::lifecycle::next_state`), the password rules (`PasswordRules`, no reuse of the last
//!   `[policy] password_history`), the naming rules (`core::naming`).
//! - Every change that succeeds is appended to the audit log with who did it, in which role,
//!   who asked and who approved (R-ACC-5, R-POL-10). A failed change leaves no entry.
//! - One-time passwords are returned to the caller to print once; only their hash is stored.

use crate::config::{self, ConfigError, Loaded};
use crate::storage;
use anyhow::{Context, Result, anyhow, bail};
use congvu_core::lifecycle::{LifecycleAction, MailboxState, is_reused, next_state};
use congvu_core::naming::{UnitKind, UnitPlace, person_local_part, unit_local_part};
use congvu_core::password::{PasswordRules, hash_password, verify_password};
use congvu_core::unit::{UnitNode, district_of, kind_token};
use congvu_store::{
    Account, AccountDetails, AccountKind, AccountState, NewAccount, NewAuditEntry, NewUnit,
    PasswordChange, StateChange, Store, Unit,
};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// The actor of commands run from the shell without `--actor`.
pub const CLI_ACTOR: &str = "operator (cli)";

/// Who is acting, and on whose request (R-ACC-5: who asked, who approved).
#[derive(Debug, Clone)]
pub struct Who {
    pub actor: String,
    pub role: String,
    pub requested_by: String,
    pub approved_by: String,
}

impl Who {
    /// The operator at the shell (or the address given with `--actor`).
    pub fn cli(actor: Option<String>) -> Who {
        Who {
            actor: actor.unwrap_or_else(|| CLI_ACTOR.to_string()),
            role: "operator".into(),
            requested_by: String::new(),
            approved_by: String::new(),
        }
    }
}

/// An opened installation: its configuration and its store.
pub struct Ops {
    pub loaded: Loaded,
    pub store: Arc<dyn Store>,
}

impl Ops {
    pub async fn open(config_path: &Path) -> Result<Ops> {
        let loaded = config::load(config_path, std::env::vars())?;
        let (store, _blobs) = storage::open(&loaded).await?;
        Ok(Ops { loaded, store })
    }

    /// The domain new addresses are made in: the first of `[server] domains`.
    pub fn domain(&self) -> &str {
        self.loaded
            .config
            .server
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or("localhost")
    }

    pub async fn audit(&self, who: &Who, action: &str, target: &str, detail: &str) -> Result<()> {
        self.store
            .append_audit(NewAuditEntry {
                at: storage::now(),
                actor: who.actor.clone(),
                role: who.role.clone(),
                action: action.into(),
                target: target.into(),
                requested_by: who.requested_by.clone(),
                approved_by: who.approved_by.clone(),
                source_ip: String::new(),
                detail: detail.into(),
            })
            .await
            .context("writing the audit log")?;
        Ok(())
    }

    pub async fn account(&self, address: &str) -> Result<Account> {
        self.store
            .account_by_address(address)
            .await?
            .ok_or_else(|| anyhow!("there is no mailbox {address}"))
    }

    pub async fn details(&self, account: &Account) -> Result<AccountDetails> {
        self.store
            .account_details(account.id)
            .await?
            .ok_or_else(|| anyhow!("there is no mailbox {}", account.address))
    }

    /// A unit named by its id, its unit mailbox's address, or that address's local part.
    pub async fn unit(&self, text: &str) -> Result<Unit> {
        let text = text.trim();
        if let Ok(id) = text.parse::<i64>() {
            return self
                .store
                .unit_by_id(id)
                .await?
                .ok_or_else(|| anyhow!("there is no unit with id {id}"));
        }
        let address = if text.contains('@') {
            text.to_string()
        } else {
            format!("{text}@{}", self.domain())
        };
        let account = self
            .store
            .account_by_address(&address)
            .await?
            .ok_or_else(|| anyhow!("there is no unit {text} (give its id or its address)"))?;
        self.store
            .unit_by_account(account.id)
            .await?
            .ok_or_else(|| anyhow!("{address} is not a unit mailbox"))
    }

    pub async fn unit_nodes(&self) -> Result<Vec<UnitNode>> {
        Ok(self
            .store
            .list_units()
            .await?
            .into_iter()
            .map(|u| UnitNode {
                id: u.id,
                parent: u.parent,
                kind: u.kind,
                name: u.name,
            })
            .collect())
    }

    /// Local parts already used in the domain (R-ACC-2: addresses never repeat).
    async fn taken_locals(&self) -> Result<HashSet<String>> {
        let suffix = format!("@{}", self.domain().to_lowercase());
        Ok(self
            .store
            .list_accounts()
            .await?
            .into_iter()
            .filter_map(|a| a.address.strip_suffix(&suffix).map(str::to_string))
            .collect())
    }

    /// Creates a unit and its unit mailbox with a generated address (R-ACC-1, R-ACC-3).
    /// Returns the unit, its mailbox and the mailbox's one-time password.
    pub async fn add_unit(
        &self,
        name: &str,
        kind: UnitKind,
        parent: Option<&Unit>,
        who: &Who,
    ) -> Result<(Unit, Account, String)> {
        let nodes = self.unit_nodes().await?;
        let parent_local = match parent.and_then(|p| p.account) {
            Some(id) => self
                .store
                .account_by_id(id)
                .await?
                .and_then(|a| a.address.split('@').next().map(str::to_string)),
            None => None,
        };
        let district = parent
            .and_then(|p| district_of(&nodes, p.id))
            .map(|n| n.name.clone());
        let taken = self.taken_locals().await?;
        let place = UnitPlace {
            parent_local: parent_local.as_deref(),
            district_name: district.as_deref(),
        };
        let local = unit_local_part(
            self.loaded.config.naming.naming_style(),
            kind,
            name,
            place,
            &|l: &str| taken.contains(l),
        )
        .ok_or_else(|| {
            ConfigError(format!(
                "--name {name:?}: no free address can be made from this name"
            ))
        })?;
        let address = format!("{local}@{}", self.domain());
        let password = storage::random_password();
        let now = storage::now();
        let unit = self
            .store
            .create_unit(NewUnit {
                name: name.trim().to_string(),
                kind,
                parent: parent.map(|p| p.id),
                mailbox: Some(NewAccount {
                    address: address.clone(),
                    display_name: name.trim().to_string(),
                    password_hash: hash_password(&password, &storage::random_salt())?,
                    kind: AccountKind::Unit,
                    created_at: now,
                }),
                mailbox_details: AccountDetails {
                    must_change_password: true,
                    password_changed_at: now,
                    ..Default::default()
                },
                created_at: now,
            })
            .await?;
        let account = self.account(&address).await?;
        self.audit(
            who,
            "unit.add",
            &address,
            &format!("{} ({})", unit.name, kind_token(kind)),
        )
        .await?;
        Ok((unit, account, password))
    }

    /// Creates a personal mailbox with a generated address and a one-time password that must
    /// be changed at first use (R-ACC-3, R-POL-2).
    pub async fn add_person(
        &self,
        name: &str,
        unit: &Unit,
        title: &str,
        phone: &str,
        who: &Who,
    ) -> Result<(Account, String)> {
        let taken = self.taken_locals().await?;
        let local = person_local_part(
            self.loaded.config.naming.naming_style(),
            name,
            &|l: &str| taken.contains(l),
        )
        .ok_or_else(|| {
            ConfigError(format!(
                "--name {name:?}: no free address can be made from this name"
            ))
        })?;
        let address = format!("{local}@{}", self.domain());
        let password = storage::random_password();
        let now = storage::now();
        let account = self
            .store
            .create_account_with_details(
                NewAccount {
                    address: address.clone(),
                    display_name: name.trim().to_string(),
                    password_hash: hash_password(&password, &storage::random_salt())?,
                    kind: AccountKind::Person,
                    created_at: now,
                },
                AccountDetails {
                    unit: Some(unit.id),
                    title: title.to_string(),
                    phone: phone.to_string(),
                    must_change_password: true,
                    password_changed_at: now,
                    state_changed_at: None,
                },
            )
            .await?;
        self.audit(
            who,
            "mailbox.add",
            &account.address,
            &format!("unit {}", unit.name),
        )
        .await?;
        Ok((account, password))
    }

    /// Suspends, resumes, revokes or restores a mailbox (R-ACC-5), if the lifecycle allows it.
    pub async fn change_state(
        &self,
        address: &str,
        action: LifecycleAction,
        reason: &str,
        who: &Who,
    ) -> Result<Account> {
        let account = self.account(address).await?;
        let details = self.details(&account).await?;
        let now = storage::now();
        let to = next_state(
            to_lifecycle(account.state),
            action,
            details.state_changed_at.unwrap_or(account.created_at),
            self.loaded.config.policy.revoked_retention_secs(),
            now,
        )?;
        let to = match to {
            MailboxState::Active => AccountState::Active,
            MailboxState::Suspended => AccountState::Suspended,
            MailboxState::Revoked => AccountState::Revoked,
            MailboxState::Purged => bail!("purging is not carried out by this command"),
        };
        self.store
            .change_account_state(
                account.id,
                StateChange {
                    from: account.state,
                    to,
                    at: now,
                    reason: reason.to_string(),
                },
            )
            .await?;
        self.audit(
            who,
            &format!("mailbox.{}", action.as_str()),
            &account.address,
            reason,
        )
        .await?;
        self.account(address).await
    }

    /// Sets a new one-time password that must be changed at first use; returns it.
    pub async fn reset_password(&self, address: &str, who: &Who) -> Result<String> {
        let account = self.account(address).await?;
        let password = storage::random_password();
        self.store
            .change_password(
                account.id,
                PasswordChange {
                    hash: hash_password(&password, &storage::random_salt())?,
                    at: storage::now(),
                    must_change: true,
                    keep_history: self.keep_history(),
                },
            )
            .await?;
        self.audit(who, "mailbox.reset-password", &account.address, "")
            .await?;
        Ok(password)
    }

    /// Changes a password chosen by a person (R-POL-1): every broken rule is named, and none
    /// of the last `[policy] password_history` passwords (the current one included) may come
    /// back. Refusals are configuration-class errors (exit 2).
    pub async fn set_password(&self, address: &str, password: &str, who: &Who) -> Result<()> {
        let account = self.account(address).await?;
        let rules = rules_for(account.kind);
        let mut broken = rules.violations(password);
        let mut previous = vec![account.password_hash.clone()];
        previous.extend(self.store.password_history(account.id).await?);
        if is_reused(password, &previous, self.keep_history(), &verify_password) {
            broken.push(format!(
                "it must differ from the last {} passwords",
                self.keep_history()
            ));
        }
        if !broken.is_empty() {
            bail!(ConfigError(format!(
                "--password is refused: {}.",
                broken.join("; ")
            )));
        }
        self.store
            .change_password(
                account.id,
                PasswordChange {
                    hash: hash_password(password, &storage::random_salt())?,
                    at: storage::now(),
                    must_change: false,
                    keep_history: self.keep_history(),
                },
            )
            .await?;
        self.audit(who, "mailbox.passwd", &account.address, "")
            .await
    }

    /// Changes directory details; `None` leaves a field as it is.
    pub async fn update(
        &self,
        address: &str,
        name: Option<&str>,
        unit: Option<&Unit>,
        title: Option<&str>,
        phone: Option<&str>,
        who: &Who,
    ) -> Result<()> {
        let account = self.account(address).await?;
        let mut details = self.details(&account).await?;
        let mut changed = Vec::new();
        if let Some(unit) = unit {
            details.unit = Some(unit.id);
            changed.push(format!("unit={}", unit.name));
        }
        if let Some(title) = title {
            details.title = title.to_string();
            changed.push(format!("title={title}"));
        }
        if let Some(phone) = phone {
            details.phone = phone.to_string();
            changed.push(format!("phone={phone}"));
        }
        let display_name = name.unwrap_or(&account.display_name).trim().to_string();
        if let Some(name) = name {
            changed.push(format!("name={name}"));
        }
        self.store
            .update_account_details(account.id, &display_name, &details)
            .await?;
        self.audit(who, "mailbox.update", &account.address, &changed.join(", "))
            .await
    }

    fn keep_history(&self) -> usize {
        usize::try_from(self.loaded.config.policy.password_history).unwrap_or(usize::MAX)
    }

    /// The password's maximum age for this kind of account, in seconds (R-POL-2).
    pub fn max_age(&self, kind: AccountKind) -> i64 {
        match kind {
            AccountKind::Operator => self.loaded.config.policy.admin_max_age_secs(),
            AccountKind::Person | AccountKind::Unit => {
                self.loaded.config.policy.user_max_age_secs()
            }
        }
    }
}

/// R-POL-1: administrators need 10 characters, everyone else 8.
pub fn rules_for(kind: AccountKind) -> PasswordRules {
    match kind {
        AccountKind::Operator => PasswordRules::ADMIN,
        AccountKind::Person | AccountKind::Unit => PasswordRules::USER,
    }
}

pub fn to_lifecycle(state: AccountState) -> MailboxState {
    match state {
        AccountState::Active => MailboxState::Active,
        AccountState::Suspended => MailboxState::Suspended,
        AccountState::Revoked => MailboxState::Revoked,
    }
}

/// Parses a `--kind` of unit, listing the accepted words when it is unknown.
pub fn unit_kind(token: &str) -> Result<UnitKind> {
    UnitKind::from_token(token).ok_or_else(|| {
        let all: Vec<&str> = congvu_core::unit::KINDS
            .iter()
            .map(|k| kind_token(*k))
            .collect();
        anyhow::Error::new(ConfigError(format!(
            "--kind {token}: use one of {}",
            all.join(", ")
        )))
    })
}
