//! The operations layer: what the operator's commands and the JSON API do to units, mailboxes
//! and requests. `congvu unit|mailbox|request …` (crates/congvu/src/cli) and `/api/v1`
//! (`crate::api`) both call these functions, so a rule is written once.
//!
//! Keeps true:
//! - Every change goes through the rule that governs it first: the lifecycle table
//!   (`core::lifecycle::next_state`), the password rules (`PasswordRules`, no reuse of the last
//!   `[policy] password_history`), the naming rules (`core::naming`), the request roles
//!   (`core::request`).
//! - Every change that succeeds is appended to the audit log with who did it, in which role,
//!   from where, who asked and who approved (R-ACC-5, R-POL-10). A failed change leaves no entry.
//! - One-time passwords are returned to the caller to show once; only their hash is stored.
//! - The clock and randomness come from [`Env`], handed down by the binary (STYLE.md).

mod mail;
pub use mail::{PurgeReport, PurgedCopy, Released, message_key_from_hash, message_key_from_id};

use congvu_core::lifecycle::{LifecycleAction, MailboxState, is_reused, next_state};
use congvu_core::naming::{NamingStyle, UnitKind, UnitPlace, person_local_part, unit_local_part};
use congvu_core::password::{PasswordRules, hash_password, verify_password};
use congvu_core::request::{Role, check_decision, check_filing};
use congvu_core::unit::{UnitNode, district_of, is_within, kind_token};
use congvu_store::{
    Account, AccountDetails, AccountKind, AccountState, NewAccount, NewAuditEntry, NewRequest,
    NewUnit, PasswordChange, Request, RequestDecision, RequestId, RequestKind, RequestStatus,
    StateChange, Store, StoreError, Unit, UnitId,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Why an operation did not happen. Each kind maps to one exit code in the CLI and one HTTP
/// status in the API (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Nothing by that name (HTTP 404, exit 1).
    #[error("{0}")]
    NotFound(String),
    /// The input breaks a rule (a weak password, no free address, a missing field): HTTP 422,
    /// exit 2.
    #[error("{0}")]
    Refused(String),
    /// The caller's role does not allow it (HTTP 403, exit 1).
    #[error("{0}")]
    Forbidden(String),
    /// The object is not in a state that allows it (HTTP 409, exit 1).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpsError {
    /// Errors the person must fix in what they typed (exit 2 in the CLI).
    pub fn is_usage(&self) -> bool {
        matches!(self, OpsError::Refused(_))
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

/// The clock and randomness, from the binary.
#[derive(Clone, Copy)]
pub struct Env {
    /// Seconds since the epoch.
    pub now: fn() -> i64,
    /// A one-time password meeting the administrator rules (R-POL-1).
    pub random_password: fn() -> String,
    pub random_salt: fn() -> [u8; 16],
}

/// The parts of the configuration the operations need.
#[derive(Debug, Clone)]
pub struct OpsSettings {
    /// `[server] domains`; new addresses are made in the first.
    pub domains: Vec<String>,
    /// `[naming] style` and overrides.
    pub naming: NamingStyle,
    /// `[policy] password_history`.
    pub password_history: usize,
    /// `[policy] revoked_retention`, seconds.
    pub revoked_retention: i64,
    /// `[policy] user_password_max_age`, seconds.
    pub user_max_age: i64,
    /// `[policy] admin_password_max_age`, seconds.
    pub admin_max_age: i64,
}

/// Who is acting, from where, and on whose request (R-ACC-5: who asked, who approved).
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub actor: String,
    pub role: String,
    pub requested_by: String,
    pub approved_by: String,
    /// The client's IP address for the API; empty at the shell.
    pub source_ip: String,
}

/// The actor of commands run from the shell without `--actor`.
pub const CLI_ACTOR: &str = "operator (cli)";

impl Who {
    /// The operator at the shell (or the address given with `--actor`).
    pub fn cli(actor: Option<String>) -> Who {
        Who {
            actor: actor.unwrap_or_else(|| CLI_ACTOR.to_string()),
            role: "operator".into(),
            ..Who::default()
        }
    }

    /// The operator deciding a request from `source_ip`.
    fn operator(address: &str, source_ip: &str) -> Who {
        Who {
            actor: address.to_string(),
            role: "operator".into(),
            source_ip: source_ip.into(),
            ..Who::default()
        }
    }
}

/// An opened installation: its store, its settings, its clock.
#[derive(Clone)]
pub struct Ops {
    pub store: Arc<dyn Store>,
    pub settings: OpsSettings,
    pub env: Env,
}

/// What approving a request did: a description and, for a new mailbox or a reset, the
/// one-time password to hand over.
#[derive(Debug, Clone)]
pub struct Approved {
    pub request: Request,
    pub password: Option<String>,
}

impl Ops {
    pub fn now(&self) -> i64 {
        (self.env.now)()
    }

    /// The domain new addresses are made in: the first of `[server] domains`.
    pub fn domain(&self) -> &str {
        self.settings
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or("localhost")
    }

    fn hash(&self, password: &str) -> Result<String> {
        hash_password(password, &(self.env.random_salt)())
            .map_err(|e| OpsError::Store(StoreError::Unavailable(e.to_string())))
    }

    pub async fn audit(&self, who: &Who, action: &str, target: &str, detail: &str) -> Result<()> {
        self.store
            .append_audit(NewAuditEntry {
                at: self.now(),
                actor: who.actor.clone(),
                role: who.role.clone(),
                action: action.into(),
                target: target.into(),
                requested_by: who.requested_by.clone(),
                approved_by: who.approved_by.clone(),
                source_ip: who.source_ip.clone(),
                detail: detail.into(),
            })
            .await?;
        Ok(())
    }

    pub async fn account(&self, address: &str) -> Result<Account> {
        self.store
            .account_by_address(&address.trim().to_lowercase())
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("there is no mailbox {address}")))
    }

    pub async fn details(&self, account: &Account) -> Result<AccountDetails> {
        self.store
            .account_details(account.id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("there is no mailbox {}", account.address)))
    }

    /// The unit a mailbox belongs to: its directory unit, or the unit it is the mailbox of.
    pub async fn unit_of(
        &self,
        account: &Account,
        details: &AccountDetails,
    ) -> Result<Option<UnitId>> {
        Ok(match details.unit {
            Some(u) => Some(u),
            None => self.store.unit_by_account(account.id).await?.map(|u| u.id),
        })
    }

    /// A unit named by its id, its unit mailbox's address, or that address's local part.
    pub async fn unit(&self, text: &str) -> Result<Unit> {
        let text = text.trim();
        if let Ok(id) = text.parse::<i64>() {
            return self
                .store
                .unit_by_id(id)
                .await?
                .ok_or_else(|| OpsError::NotFound(format!("there is no unit with id {id}")));
        }
        let address = if text.contains('@') {
            text.to_lowercase()
        } else {
            format!("{}@{}", text.to_lowercase(), self.domain())
        };
        let account = self
            .store
            .account_by_address(&address)
            .await?
            .ok_or_else(|| {
                OpsError::NotFound(format!(
                    "there is no unit {text} (give its id or its address)"
                ))
            })?;
        self.store
            .unit_by_account(account.id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("{address} is not a unit mailbox")))
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

    /// The role of the account at `address` (R-ACC-6).
    pub async fn role_of(&self, account: &Account) -> Result<Role> {
        if account.kind == AccountKind::Operator {
            return Ok(Role::Operator);
        }
        let units = self.store.contact_units(account.id).await?;
        Ok(if units.is_empty() {
            Role::User
        } else {
            Role::UnitContact(units)
        })
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
        if name.trim().is_empty() {
            return Err(OpsError::Refused("a unit needs a name".into()));
        }
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
        let local = unit_local_part(self.settings.naming, kind, name, place, &|l: &str| {
            taken.contains(l)
        })
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "--name {name:?}: no free address can be made from this name"
            ))
        })?;
        let address = format!("{local}@{}", self.domain());
        let password = (self.env.random_password)();
        let now = self.now();
        let unit = self
            .store
            .create_unit(NewUnit {
                name: name.trim().to_string(),
                kind,
                parent: parent.map(|p| p.id),
                mailbox: Some(NewAccount {
                    address: address.clone(),
                    display_name: name.trim().to_string(),
                    password_hash: self.hash(&password)?,
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
        let local = person_local_part(self.settings.naming, name, &|l: &str| taken.contains(l))
            .ok_or_else(|| {
                OpsError::Refused(format!(
                    "--name {name:?}: no free address can be made from this name"
                ))
            })?;
        let address = format!("{local}@{}", self.domain());
        let password = (self.env.random_password)();
        let now = self.now();
        let account = self
            .store
            .create_account_with_details(
                NewAccount {
                    address: address.clone(),
                    display_name: name.trim().to_string(),
                    password_hash: self.hash(&password)?,
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
        let now = self.now();
        let to = next_state(
            to_lifecycle(account.state),
            action,
            details.state_changed_at.unwrap_or(account.created_at),
            self.settings.revoked_retention,
            now,
        )
        .map_err(|e| OpsError::Conflict(e.to_string()))?;
        let to = match to {
            MailboxState::Active => AccountState::Active,
            MailboxState::Suspended => AccountState::Suspended,
            MailboxState::Revoked => AccountState::Revoked,
            MailboxState::Purged => {
                return Err(OpsError::Conflict(
                    "purging is not carried out by this command".into(),
                ));
            }
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
        let password = (self.env.random_password)();
        self.store
            .change_password(
                account.id,
                PasswordChange {
                    hash: self.hash(&password)?,
                    at: self.now(),
                    must_change: true,
                    keep_history: self.settings.password_history,
                },
            )
            .await?;
        self.audit(who, "mailbox.reset-password", &account.address, "")
            .await?;
        Ok(password)
    }

    /// Every rule of R-POL-1 the password breaks for this account, the history included
    /// (none of the last `[policy] password_history`, the current one included, may come
    /// back). Empty when it is acceptable.
    pub async fn password_violations(
        &self,
        account: &Account,
        password: &str,
    ) -> Result<Vec<String>> {
        let keep = self.settings.password_history;
        let mut broken = rules_for(account.kind).violations(password);
        let mut previous = vec![account.password_hash.clone()];
        previous.extend(self.store.password_history(account.id).await?);
        let candidate = password.to_string();
        // Argon2 verifications are slow on purpose: off the runtime's workers.
        let reused = tokio::task::spawn_blocking(move || {
            is_reused(&candidate, &previous, keep, &verify_password)
        })
        .await
        .map_err(|e| OpsError::Store(StoreError::Unavailable(e.to_string())))?;
        if reused {
            broken.push(format!("it must differ from the last {keep} passwords"));
        }
        Ok(broken)
    }

    /// Changes a password chosen by a person (R-POL-1): every broken rule is named.
    pub async fn set_password(&self, address: &str, password: &str, who: &Who) -> Result<()> {
        let account = self.account(address).await?;
        let broken = self.password_violations(&account, password).await?;
        if !broken.is_empty() {
            return Err(OpsError::Refused(format!(
                "--password is refused: {}.",
                broken.join("; ")
            )));
        }
        self.store
            .change_password(
                account.id,
                PasswordChange {
                    hash: self.hash(password)?,
                    at: self.now(),
                    must_change: false,
                    keep_history: self.settings.password_history,
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

    /// Mailboxes with their details, only those in `within` or a unit below it when given.
    pub async fn list_mailboxes(
        &self,
        within: Option<UnitId>,
    ) -> Result<Vec<(Account, AccountDetails)>> {
        let nodes = self.unit_nodes().await?;
        let mut rows = Vec::new();
        for a in self.store.list_accounts().await? {
            let d = self.details(&a).await?;
            if let Some(root) = within {
                let own = self.unit_of(&a, &d).await?;
                if !own.is_some_and(|u| is_within(&nodes, u, root)) {
                    continue;
                }
            }
            rows.push((a, d));
        }
        Ok(rows)
    }

    /// The password's maximum age for this kind of account, in seconds (R-POL-2).
    pub fn max_age(&self, kind: AccountKind) -> i64 {
        match kind {
            AccountKind::Operator => self.settings.admin_max_age,
            AccountKind::Person | AccountKind::Unit => self.settings.user_max_age,
        }
    }

    /// Files a request (R-ACC-6) by `by`, who must be the operator or an IT contact of the
    /// mailbox's unit and of the unit named. Audited as `request.file`.
    pub async fn file_request(
        &self,
        mut new: NewRequest,
        by: &Account,
        source_ip: &str,
    ) -> Result<Request> {
        let role = self.role_of(by).await?;
        let nodes = self.unit_nodes().await?;
        if new.kind.needs_mailbox() {
            if new.mailbox.trim().is_empty() {
                return Err(OpsError::Refused(format!(
                    "--mailbox is required for a {} request",
                    new.kind.as_str()
                )));
            }
            let account = self.account(&new.mailbox).await?;
            let details = self.details(&account).await?;
            let own = self.unit_of(&account, &details).await?;
            check_filing(&role, own, &nodes).map_err(|e| OpsError::Forbidden(e.to_string()))?;
            new.mailbox = account.address;
        } else if new.name.trim().is_empty() || new.unit.is_none() {
            return Err(OpsError::Refused(
                "a new-mailbox request needs --name and --unit".into(),
            ));
        }
        // The unit named (the new mailbox's, or the one a change moves it to) must be within
        // the requester's reach as well.
        if let Some(u) = new.unit {
            check_filing(&role, Some(u), &nodes).map_err(|e| OpsError::Forbidden(e.to_string()))?;
        }
        new.requested_by = by.address.clone();
        new.filed_at = self.now();
        let request = self.store.file_request(new).await?;
        let who = Who {
            actor: request.requested_by.clone(),
            role: role.as_str().into(),
            source_ip: source_ip.into(),
            ..Who::default()
        };
        self.audit(
            &who,
            "request.file",
            &format!("request {}", request.id),
            &describe_request(&request),
        )
        .await?;
        Ok(request)
    }

    /// The request, if `by` may decide it now.
    async fn pending(&self, id: RequestId, by: &Account) -> Result<Request> {
        let request = self
            .store
            .request_by_id(id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("there is no request {id}")))?;
        check_decision(&self.role_of(by).await?, request.status).map_err(|e| match e {
            congvu_core::request::RequestError::AlreadyDecided(_) => {
                OpsError::Conflict(e.to_string())
            }
            _ => OpsError::Forbidden(e.to_string()),
        })?;
        Ok(request)
    }

    /// Approves a pending request and carries it out. Approval first moves the request from
    /// pending to done (a compare-and-set: a second approval fails), then carries it out with
    /// the filer as "requested by" and the operator as "approved by"; if carrying it out
    /// fails, the request ends as failed with the reason, and the error is returned.
    pub async fn approve_request(
        &self,
        id: RequestId,
        by: &Account,
        source_ip: &str,
    ) -> Result<Approved> {
        let request = self.pending(id, by).await?;
        let now = self.now();
        self.decide_pending(
            id,
            RequestDecision {
                status: RequestStatus::Done,
                by: by.address.clone(),
                at: now,
                reason: String::new(),
                result: String::new(),
            },
        )
        .await?;
        let operator = Who::operator(&by.address, source_ip);
        self.audit(
            &operator,
            "request.approve",
            &format!("request {id}"),
            &describe_request(&request),
        )
        .await?;
        let who = Who {
            requested_by: request.requested_by.clone(),
            approved_by: by.address.clone(),
            ..operator
        };
        match self.carry_out(&request, &who).await {
            Ok((result, password)) => {
                let done = self
                    .store
                    .decide_request(
                        id,
                        RequestStatus::Done,
                        RequestDecision {
                            status: RequestStatus::Done,
                            by: by.address.clone(),
                            at: now,
                            reason: String::new(),
                            result,
                        },
                    )
                    .await?;
                Ok(Approved {
                    request: done,
                    password,
                })
            }
            Err(e) => {
                let reason = e.to_string();
                self.store
                    .decide_request(
                        id,
                        RequestStatus::Done,
                        RequestDecision {
                            status: RequestStatus::Failed,
                            by: by.address.clone(),
                            at: now,
                            reason: reason.clone(),
                            result: String::new(),
                        },
                    )
                    .await?;
                Err(OpsError::Conflict(format!(
                    "request {id} was approved but could not be carried out: {reason}"
                )))
            }
        }
    }

    /// Rejects a pending request with a reason.
    pub async fn reject_request(
        &self,
        id: RequestId,
        by: &Account,
        reason: &str,
        source_ip: &str,
    ) -> Result<Request> {
        if reason.trim().is_empty() {
            return Err(OpsError::Refused(
                "--reason must say why the request is rejected".into(),
            ));
        }
        let request = self.pending(id, by).await?;
        let rejected = self
            .decide_pending(
                id,
                RequestDecision {
                    status: RequestStatus::Rejected,
                    by: by.address.clone(),
                    at: self.now(),
                    reason: reason.to_string(),
                    result: String::new(),
                },
            )
            .await?;
        let who = Who::operator(&by.address, source_ip);
        self.audit(
            &who,
            "request.reject",
            &format!("request {id}"),
            &format!("{}; reason: {reason}", describe_request(&request)),
        )
        .await?;
        Ok(rejected)
    }

    /// Moves a request out of pending (a compare-and-set: `Conflict` when someone else
    /// decided it first).
    async fn decide_pending(&self, id: RequestId, decision: RequestDecision) -> Result<Request> {
        self.store
            .decide_request(id, RequestStatus::Pending, decision)
            .await
            .map_err(|e| match e {
                StoreError::Invalid(m) => OpsError::Conflict(m),
                e => OpsError::Store(e),
            })
    }

    /// Does what the request asks; returns a description of the result and, for a new
    /// mailbox or a reset, the one-time password to hand over.
    async fn carry_out(&self, r: &Request, who: &Who) -> Result<(String, Option<String>)> {
        let unit = match r.unit {
            Some(id) => Some(
                self.store
                    .unit_by_id(id)
                    .await?
                    .ok_or_else(|| OpsError::NotFound(format!("unit {id} no longer exists")))?,
            ),
            None => None,
        };
        let lifecycle = |action| async move {
            let a = self
                .change_state(&r.mailbox, action, &r.reason, who)
                .await?;
            Ok::<_, OpsError>((format!("{} is {}", a.address, a.state.as_str()), None))
        };
        match r.kind {
            RequestKind::NewMailbox => {
                let unit =
                    unit.ok_or_else(|| OpsError::Refused("the request names no unit".into()))?;
                let (account, pw) = self
                    .add_person(&r.name, &unit, &r.title, &r.phone, who)
                    .await?;
                Ok((account.address, Some(pw)))
            }
            RequestKind::Change => {
                let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
                self.update(
                    &r.mailbox,
                    some(&r.name).as_deref(),
                    unit.as_ref(),
                    some(&r.title).as_deref(),
                    some(&r.phone).as_deref(),
                    who,
                )
                .await?;
                Ok((format!("{} updated", r.mailbox), None))
            }
            RequestKind::Reset => {
                let pw = self.reset_password(&r.mailbox, who).await?;
                Ok((format!("{} password reset", r.mailbox), Some(pw)))
            }
            RequestKind::Suspend => lifecycle(LifecycleAction::Suspend).await,
            RequestKind::Revoke => lifecycle(LifecycleAction::Revoke).await,
            RequestKind::Restore => lifecycle(LifecycleAction::Restore).await,
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
        AccountState::Purged => MailboxState::Purged,
    }
}

/// A kind of unit from its token, listing the accepted words when it is unknown.
pub fn unit_kind(token: &str) -> Result<UnitKind> {
    UnitKind::from_token(token).ok_or_else(|| {
        let all: Vec<&str> = congvu_core::unit::KINDS
            .iter()
            .map(|k| kind_token(*k))
            .collect();
        OpsError::Refused(format!("--kind {token}: use one of {}", all.join(", ")))
    })
}

/// A kind of request from its token.
pub fn request_kind(token: &str) -> Result<RequestKind> {
    RequestKind::from_token(token).ok_or_else(|| {
        OpsError::Refused(format!(
            "--kind {token}: use new-mailbox, change, reset, suspend, revoke or restore"
        ))
    })
}

/// One line describing a request, for listings and the audit log.
pub fn describe_request(r: &Request) -> String {
    let mut out = r.kind.as_str().to_string();
    for (label, value) in [
        ("mailbox", &r.mailbox),
        ("name", &r.name),
        ("title", &r.title),
        ("reason", &r.reason),
    ] {
        if !value.is_empty() {
            out.push_str(&format!(" {label}={value:?}"));
        }
    }
    if let Some(u) = r.unit {
        out.push_str(&format!(" unit={u}"));
    }
    out
}
