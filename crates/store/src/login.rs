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

use crate::{Account, AccountKind, AccountState, AppPassword, NewAuditEntry, Store, StoreError};
use congvu_core::lifecycle::{PasswordState, password_state};
use std::sync::OnceLock;

/// Maximum password ages from `[policy]`, in seconds; 0 means the password never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginPolicy {
    /// `[policy] user_password_max_age` (persons and unit mailboxes).
    pub user_password_max_age: i64,
    /// `[policy] admin_password_max_age` (operators).
    pub admin_password_max_age: i64,
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
            LoginRefusal::Store(_) => "store unavailable",
        }
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
    let result = decide(store, policy, service, &login, password, totp_code, now).await;
    if let Err(refusal) = &result
        && !matches!(refusal, LoginRefusal::Store(_))
    {
        audit_failure(store, service, &login, refusal, source_ip, now).await;
    }
    result
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
