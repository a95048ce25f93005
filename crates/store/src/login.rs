//! The one login check every service uses (IMAP, POP3, SMTP submission, the web), so the
//! rules of R-POL-2 and R-ACC-5 hold the same everywhere.
//!
//! What it keeps true:
//! - An unknown login costs one Argon2 verification like a known one (against a dummy hash),
//!   and gets the same refusal as a wrong password, so replies do not tell which logins exist.
//!   (A mailbox with app passwords costs one more verification per app password when its main
//!   password is wrong; that reveals only that some mailbox has app passwords.)
//! - Argon2 runs on the blocking pool, never on a runtime worker.
//! - The state of a mailbox (suspended, revoked) and of its password (expired, must change) is
//!   told only after a right password: a guesser learns nothing about them.
//! - App passwords work for mail programs (IMAP, POP3, SMTP) only, never for the web, and do
//!   not expire with the main password. With TOTP on, the web needs a code and mail programs
//!   need an app password: the main password alone never opens a mailbox with TOTP.
//! - A TOTP code is accepted once (RFC 6238 §5.2): the store keeps the newest step used.
//! - Every refusal, except a failing store, appends a `login.failed` entry to the audit log
//!   (R-POL-10) with the attempted address, the service, the reason and the source IP.
//!   Passwords and codes are never written anywhere.
//! - The clock is a parameter (`now`, seconds since the epoch).
//! - Failed-login backoff (R-POL-9, `[security]`): failures are counted durably per login
//!   from one IP address, per IP address and per login from anywhere. Past a threshold the
//!   source must wait (doubling delays, capped), and while it waits it is refused with
//!   [`LoginRefusal::Backoff`] before any Argon2 work. The per-login count from anywhere only
//!   holds back networks the mailbox never logged in from, so a guesser elsewhere cannot lock
//!   the owner out; a right password after the wait is accepted. Each burst (a count reaching
//!   its threshold) records one `security.bruteforce` event; waiting refusals are not audited
//!   one by one (they cost the attacker nothing and would only grow the log).
//! - A successful login from a network (/24, /48) the mailbox never used records a
//!   `security.new_network` event (the first login ever only seeds the list); loopback is
//!   exempt unless `alert_loopback`. The events' notices are mailed by `congvu_smtp::notices`.

use crate::{
    Account, AccountKind, AccountState, AppPassword, NewAuditEntry, NewSecurityEvent, Store,
    StoreError,
};
use congvu_core::lifecycle::{PasswordState, password_state};
use congvu_core::security::{SecurityPolicy, backoff_delay, is_loopback, network_of};
use std::sync::OnceLock;

/// Maximum password ages from `[policy]`, in seconds (0 means the password never expires),
/// and the abnormal-use rules of `[security]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginPolicy {
    /// `[policy] user_password_max_age` (persons and unit mailboxes).
    pub user_password_max_age: i64,
    /// `[policy] admin_password_max_age` (operators).
    pub admin_password_max_age: i64,
    /// `[security]`: failed-login backoff and new-network alerts (off by default).
    pub security: SecurityPolicy,
}

impl LoginPolicy {
    /// The maximum age that applies to an account of this kind.
    pub fn max_age(&self, kind: AccountKind) -> i64 {
        match kind {
            AccountKind::Operator => self.admin_password_max_age,
            AccountKind::Person | AccountKind::Unit => self.user_password_max_age,
        }
    }
}

/// Who is asking: the rules differ between mail programs and the web.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginService {
    Imap,
    Pop3,
    Smtp,
    Web,
    /// Address-book binds of mail programs (read-only LDAP directory).
    Ldap,
    /// Mail filters uploaded by mail programs (RFC 5804).
    ManageSieve,
}

impl LoginService {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginService::Imap => "imap",
            LoginService::Pop3 => "pop3",
            LoginService::Smtp => "smtp",
            LoginService::Web => "web",
            LoginService::Ldap => "ldap",
            LoginService::ManageSieve => "managesieve",
        }
    }

    /// Mail programs log in with app passwords and cannot ask for a TOTP code.
    fn is_mail_client(self) -> bool {
        !matches!(self, LoginService::Web)
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    pub account: Account,
    /// Where the main password stands. For the web this may be `Expired` or `MustChange`: the
    /// session may then only change the password. Mail programs never get those two (they
    /// are refused); after an app password it is `Valid`, since app passwords do not expire.
    pub password_state: PasswordState,
    /// The login used an app password (mail programs only).
    pub via_app_password: bool,
    /// The label of that app password.
    pub app_password_label: Option<String>,
}

/// Why a login was refused.
#[derive(Debug)]
pub enum LoginRefusal {
    /// Unknown login or wrong password (the same answer for both).
    BadCredentials,
    /// Right password, but the mailbox is suspended or revoked.
    Disabled(AccountState),
    /// Right password, older than the maximum age: it must be changed (on the web).
    Expired,
    /// Right password, but new or reset: it must be changed first (on the web).
    MustChange,
    /// Web login of a mailbox with TOTP: no code was given, or it was wrong or used before.
    SecondFactorRequired,
    /// Right main password from a mail program, but the mailbox has TOTP: mail programs must
    /// use an app password.
    AppPasswordRequired,
    /// Too many failed logins from this source (or for this login from unknown networks):
    /// refused without looking at the password; try again after `retry_after` seconds.
    Backoff { retry_after: i64 },
    /// The store failed: not the user's fault, not counted as a failed login.
    Store(StoreError),
}

impl LoginRefusal {
    /// A short reason for the audit log and the server log.
    pub fn reason(&self) -> &'static str {
        match self {
            LoginRefusal::BadCredentials => "bad credentials",
            LoginRefusal::Disabled(AccountState::Suspended) => "mailbox suspended",
            LoginRefusal::Disabled(AccountState::Revoked) => "mailbox revoked",
            LoginRefusal::Disabled(AccountState::Purged) => "mailbox purged",
            LoginRefusal::Disabled(AccountState::Active) => "mailbox disabled",
            LoginRefusal::Expired => "password expired",
            LoginRefusal::MustChange => "password must be changed",
            LoginRefusal::SecondFactorRequired => "second factor missing or wrong",
            LoginRefusal::AppPasswordRequired => {
                "main password refused: TOTP on, app password required"
            }
            LoginRefusal::Backoff { .. } => "too many failed logins: waiting",
            LoginRefusal::Store(_) => "store unavailable",
        }
    }

    /// The sentence a protocol adds for a [`LoginRefusal::Backoff`] refusal.
    pub fn wait_sentence(retry_after: i64) -> String {
        format!(
            "Too many failed logins; wait {} seconds and try again \
             (đăng nhập sai quá nhiều lần, vui lòng chờ {} giây)",
            retry_after.max(1),
            retry_after.max(1)
        )
    }

    /// Refusals that count as a failed guess for the backoff: a wrong password or code.
    fn is_guess(&self) -> bool {
        matches!(
            self,
            LoginRefusal::BadCredentials | LoginRefusal::SecondFactorRequired
        )
    }
}

/// The system clock in seconds since the epoch: only the default of the protocol configs'
/// `now`, which `congvu serve` sets itself; tests set their own.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Audit entries name at most this much of what was typed as a login, so a client cannot
/// grow the log with huge user names.
const MAX_AUDITED_LOGIN: usize = 320;

/// Checks a login for `service`. `totp_code` is only looked at for the web; `source_ip` goes
/// to the audit log.
#[allow(clippy::too_many_arguments)]
pub async fn check_login(
    store: &dyn Store,
    policy: &LoginPolicy,
    service: LoginService,
    address: &str,
    password: &str,
    totp_code: Option<&str>,
    source_ip: &str,
    now: i64,
) -> Result<LoginOk, LoginRefusal> {
    let login = address.trim().to_lowercase();
    let security = &policy.security;
    // The session about to start must see what the CLI committed a moment ago.
    store.notice_other_writers().await;
    if security.login_backoff {
        match backoff_wait(store, security, &login, source_ip, now).await {
            Ok(Some(retry_after)) => {
                count_login(service, "backoff");
                return Err(LoginRefusal::Backoff { retry_after });
            }
            Ok(None) => {}
            Err(error) => return Err(LoginRefusal::Store(error)),
        }
    }
    let result = decide(store, policy, service, &login, password, totp_code, now).await;
    match &result {
        Ok(ok) => {
            count_login(service, "ok");
            after_success(store, security, service, ok, &login, source_ip, now).await;
        }
        Err(LoginRefusal::Store(_)) => count_login(service, "error"),
        Err(refusal) => {
            count_login(service, "failed");
            audit_failure(store, service, &login, refusal, source_ip, now).await;
            if security.login_backoff && refusal.is_guess() {
                count_failure(store, security, service, &login, source_ip, now).await;
            }
        }
    }
    result
}

fn count_login(service: LoginService, result: &str) {
    congvu_core::metrics::count(
        "congvu_logins_total",
        "Logins by service and result (ok, failed, backoff, error).",
        &[("service", service.as_str()), ("result", result)],
        1,
    );
}

/// The throttling scopes of a login attempt: the login from this address, this address, and
/// the login from anywhere, with the failures each allows.
fn scopes(security: &SecurityPolicy, login: &str, ip: &str) -> [(&'static str, String, u32); 3] {
    [
        (
            "pair",
            format!("{login}|{ip}"),
            security.login_failures_per_account,
        ),
        ("ip", ip.to_string(), security.login_failures_per_ip),
        (
            "account",
            login.to_string(),
            security.login_failures_per_account_all_ips,
        ),
    ]
}

/// Seconds this attempt must still wait, if any.
async fn backoff_wait(
    store: &dyn Store,
    security: &SecurityPolicy,
    login: &str,
    source_ip: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut until = 0;
    for (scope, key, threshold) in scopes(security, login, source_ip) {
        if threshold == 0 {
            continue;
        }
        let Some(state) = store.login_failures(scope, &key).await? else {
            continue;
        };
        if state.blocked_until <= now || state.blocked_until <= until {
            continue;
        }
        if scope == "account" && from_known_network(store, login, source_ip).await? {
            // The owner's usual networks are not held back by guesses from elsewhere.
            continue;
        }
        until = state.blocked_until;
    }
    Ok((until > now).then_some(until - now))
}

async fn from_known_network(
    store: &dyn Store,
    login: &str,
    source_ip: &str,
) -> Result<bool, StoreError> {
    let (Some(network), Some(account)) = (
        network_of(source_ip),
        store.account_by_address(login).await?,
    ) else {
        return Ok(false);
    };
    store.knows_login_network(account.id, &network).await
}

/// Counts a wrong guess in every scope, sets the waits, and records one event per burst.
async fn count_failure(
    store: &dyn Store,
    security: &SecurityPolicy,
    service: LoginService,
    login: &str,
    source_ip: &str,
    now: i64,
) {
    for (scope, key, threshold) in scopes(security, login, source_ip) {
        if threshold == 0 {
            continue;
        }
        let counted = store
            .record_login_failure(scope, &key, now, security.login_failure_window)
            .await;
        let state = match counted {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%error, scope, "could not count a failed login");
                continue;
            }
        };
        let delay = backoff_delay(
            state.failures,
            threshold,
            security.login_backoff_base,
            security.login_backoff_max,
        );
        if delay > 0
            && let Err(error) = store.block_login(scope, &key, now + delay).await
        {
            tracing::warn!(%error, scope, "could not set a login backoff");
        }
        if state.failures == threshold {
            let detail = format!(
                "{}: {} failed logins ({}) within {} s; waits from {} s, doubling",
                service.as_str(),
                state.failures,
                match scope {
                    "pair" => "this login from this address",
                    "ip" => "any login from this address",
                    _ => "this login from any address",
                },
                security.login_failure_window,
                delay
            );
            // A burst from one address over many logins concerns the operator only.
            let account = if scope == "ip" {
                None
            } else {
                store.account_by_address(login).await.ok().flatten()
            };
            security_event(
                store,
                "security.bruteforce",
                account.as_ref(),
                login,
                source_ip,
                detail,
                now,
            )
            .await;
        }
    }
}

/// After a successful login: the pair's count is forgotten, and the network is checked.
async fn after_success(
    store: &dyn Store,
    security: &SecurityPolicy,
    service: LoginService,
    ok: &LoginOk,
    login: &str,
    source_ip: &str,
    now: i64,
) {
    if security.login_backoff
        && let Err(error) = store
            .clear_login_failures("pair", &format!("{login}|{source_ip}"))
            .await
    {
        tracing::warn!(%error, "could not clear a failed-login count");
    }
    if !(security.new_network_alerts || security.login_backoff) {
        return;
    }
    if is_loopback(source_ip) && !security.alert_loopback {
        return;
    }
    let Some(network) = network_of(source_ip) else {
        return;
    };
    let account = &ok.account;
    match store.knows_login_network(account.id, &network).await {
        Ok(true) => return,
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(%error, "could not read the known login networks");
            return;
        }
    }
    let note = match store.note_login_network(account.id, &network, now).await {
        Ok(note) => note,
        Err(error) => {
            tracing::warn!(%error, "could not remember a login network");
            return;
        }
    };
    if note.known_before || note.first_ever || !security.new_network_alerts {
        return;
    }
    let detail = format!(
        "{}: login from network {network}, never used by this mailbox before",
        service.as_str()
    );
    security_event(
        store,
        "security.new_network",
        Some(account),
        &account.address,
        source_ip,
        detail,
        now,
    )
    .await;
}

/// Records a security event (its notices are mailed by `congvu_smtp::notices`) and its
/// audit entry (R-POL-10). Failures are logged: the login itself stands.
pub async fn security_event(
    store: &dyn Store,
    kind: &str,
    account: Option<&Account>,
    login: &str,
    source_ip: &str,
    detail: String,
    now: i64,
) {
    let actor: String = login
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_AUDITED_LOGIN)
        .collect();
    tracing::warn!(kind, login = %actor, source_ip, %detail, "security event");
    congvu_core::metrics::count(
        "congvu_security_events_total",
        "Security events (R-POL-9) by kind.",
        &[("kind", kind)],
        1,
    );
    let role = match account {
        Some(a) if a.kind == AccountKind::Operator => "operator",
        _ => "user",
    };
    let audit = NewAuditEntry {
        at: now,
        actor: actor.clone(),
        role: role.to_string(),
        action: kind.to_string(),
        target: actor.clone(),
        source_ip: source_ip.to_string(),
        detail: detail.clone(),
        ..NewAuditEntry::default()
    };
    if let Err(error) = store.append_audit(audit).await {
        tracing::warn!(%error, kind, "could not audit a security event");
    }
    let event = NewSecurityEvent {
        at: now,
        kind: kind.to_string(),
        account: account.map(|a| a.id),
        address: actor,
        source_ip: source_ip.to_string(),
        detail,
    };
    if let Err(error) = store.record_security_event(event).await {
        tracing::warn!(%error, kind, "could not record a security event");
    }
}

async fn decide(
    store: &dyn Store,
    policy: &LoginPolicy,
    service: LoginService,
    login: &str,
    password: &str,
    totp_code: Option<&str>,
    now: i64,
) -> Result<LoginOk, LoginRefusal> {
    let account = if login.is_empty() || login.chars().any(char::is_control) {
        None
    } else {
        store
            .account_by_address(login)
            .await
            .map_err(LoginRefusal::Store)?
    };
    let Some(account) = account else {
        // Spend the same work as a real check so timing does not reveal which logins exist.
        verify_blocking(password, None).await;
        return Err(LoginRefusal::BadCredentials);
    };

    if verify_blocking(password, Some(account.password_hash.clone())).await {
        return main_password_ok(store, policy, service, account, totp_code, now).await;
    }
    if !service.is_mail_client() {
        return Err(LoginRefusal::BadCredentials);
    }
    let app_passwords = store
        .app_passwords(account.id)
        .await
        .map_err(LoginRefusal::Store)?;
    let Some(used) = matching_app_password(password, app_passwords).await else {
        return Err(LoginRefusal::BadCredentials);
    };
    refuse_disabled(&account)?;
    store
        .touch_app_password(used.id, now)
        .await
        .map_err(LoginRefusal::Store)?;
    Ok(LoginOk {
        account,
        password_state: PasswordState::Valid,
        via_app_password: true,
        app_password_label: Some(used.label),
    })
}

/// The main password was right: the mailbox state, the second factor, then the password age.
async fn main_password_ok(
    store: &dyn Store,
    policy: &LoginPolicy,
    service: LoginService,
    account: Account,
    totp_code: Option<&str>,
    now: i64,
) -> Result<LoginOk, LoginRefusal> {
    refuse_disabled(&account)?;
    if let Some(totp) = store.totp(account.id).await.map_err(LoginRefusal::Store)? {
        if service.is_mail_client() {
            return Err(LoginRefusal::AppPasswordRequired);
        }
        let step = totp_code
            .and_then(|code| congvu_core::totp::check_code(&totp.secret, code, now))
            .ok_or(LoginRefusal::SecondFactorRequired)?;
        if !store
            .use_totp_step(account.id, step)
            .await
            .map_err(LoginRefusal::Store)?
        {
            // The same code again (or an older one): RFC 6238 §5.2.
            return Err(LoginRefusal::SecondFactorRequired);
        }
    }
    let details = store
        .account_details(account.id)
        .await
        .map_err(LoginRefusal::Store)?
        .unwrap_or_default();
    // An account made before password bookkeeping existed counts from its creation.
    let changed_at = if details.password_changed_at > 0 {
        details.password_changed_at
    } else {
        account.created_at
    };
    let state = password_state(
        changed_at,
        now,
        policy.max_age(account.kind),
        details.must_change_password,
    );
    if service.is_mail_client() {
        match state {
            PasswordState::Expired => return Err(LoginRefusal::Expired),
            PasswordState::MustChange => return Err(LoginRefusal::MustChange),
            PasswordState::Valid | PasswordState::ExpiresSoon(_) => {}
        }
    }
    Ok(LoginOk {
        account,
        password_state: state,
        via_app_password: false,
        app_password_label: None,
    })
}

fn refuse_disabled(account: &Account) -> Result<(), LoginRefusal> {
    match account.state {
        AccountState::Active => Ok(()),
        state @ (AccountState::Suspended | AccountState::Revoked | AccountState::Purged) => {
            Err(LoginRefusal::Disabled(state))
        }
    }
}

/// Argon2 on the blocking pool; `None` checks the dummy hash (and always fails).
async fn verify_blocking(password: &str, hash: Option<String>) -> bool {
    let password = password.to_string();
    let known = hash.is_some();
    let verified = tokio::task::spawn_blocking(move || {
        let hash = hash.as_deref().unwrap_or_else(|| dummy_hash());
        congvu_core::password::verify_password(&password, hash)
    })
    .await
    .unwrap_or(false);
    known && verified
}

async fn matching_app_password(
    password: &str,
    candidates: Vec<AppPassword>,
) -> Option<AppPassword> {
    if candidates.is_empty() {
        return None;
    }
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        candidates
            .into_iter()
            .find(|c| congvu_core::password::verify_password(&password, &c.password_hash))
    })
    .await
    .ok()
    .flatten()
}

/// A real Argon2id hash of a password nobody knows, verified against when the login does not
/// exist, so both paths cost the same.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        congvu_core::password::hash_password("congvu-no-such-login", &[0x5a; 16])
            .unwrap_or_default()
    })
}

async fn audit_failure(
    store: &dyn Store,
    service: LoginService,
    login: &str,
    refusal: &LoginRefusal,
    source_ip: &str,
    now: i64,
) {
    let mut actor: String = login
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_AUDITED_LOGIN)
        .collect();
    if actor.is_empty() {
        actor = "(empty login)".to_string();
    }
    let role = match store.account_by_address(login).await {
        Ok(Some(account)) if account.kind == AccountKind::Operator => "operator",
        _ => "user",
    };
    let entry = NewAuditEntry {
        at: now,
        actor: actor.clone(),
        role: role.to_string(),
        action: "login.failed".to_string(),
        target: actor,
        source_ip: source_ip.to_string(),
        detail: format!("{}: {}", service.as_str(), refusal.reason()),
        ..NewAuditEntry::default()
    };
    if let Err(error) = store.append_audit(entry).await {
        // The refusal stands; losing the audit row is reported, not turned into a success.
        tracing::warn!(%error, service = service.as_str(), "could not audit a failed login");
    }
}
