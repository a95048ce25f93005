//! Who is calling the API, and whether they may call this route: the one guard every route
//! of `/api/v1` passes through (R-ACC-6 roles), and the secrets behind sessions and tokens.
//!
//! Keeps true:
//! - Every route has exactly one entry in [`ROUTES`]; a route without one is refused (fail
//!   closed), and the OpenAPI document lists each route's roles from the same table
//!   (`x-congvu-roles`), so the end-to-end test can try every route with a wrong role.
//! - A session or token is 32 random bytes; only its BLAKE3 hash is stored and compared.
//! - A session made with an expired or must-change password (R-POL-2) may only change the
//!   password (and log out); anything else is 403 with a sentence saying why.
//! - A mailbox suspended or revoked after its session was made is refused at the next call.
//! - Failed logins are slowed and then locked out per address and per client IP, in memory
//!   and bounded in size (a restart forgets them; the audit log keeps every failure).

use crate::WebState;
use crate::error::ApiError;
use crate::ops::Who;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use congvu_core::request::Role;
use congvu_core::unit::{UnitNode, is_within};
use congvu_store::{Account, AccountState, ApiCredential, ApiCredentialKind, UnitId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cookie a browser session travels in (also accepted: `Authorization: Bearer`).
pub const SESSION_COOKIE: &str = "congvu_session";
/// API tokens start with this, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "cvt_";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not (logging in, the OpenAPI document).
    Public,
    /// Any logged-in caller, even one whose session may only change the password.
    AnySession,
    /// Any logged-in caller: operator, unit IT contact or user (each sees only their reach).
    User,
    /// The operator or a unit IT contact (within their units).
    Staff,
    /// The operator only.
    Operator,
}

impl Access {
    /// The roles (`core::request::Role::as_str`) allowed, for the OpenAPI document.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Access::Public => &[],
            Access::AnySession | Access::User => &["operator", "unit-contact", "user"],
            Access::Staff => &["operator", "unit-contact"],
            Access::Operator => &["operator"],
        }
    }
}

/// Every route of `/api/v1` and who may call it. Read top to bottom.
pub const ROUTES: &[(Method, &str, Access)] = &[
    (Method::POST, "/api/v1/session", Access::Public),
    (Method::DELETE, "/api/v1/session", Access::AnySession),
    (Method::GET, "/api/v1/openapi.json", Access::Public),
    (Method::GET, "/api/v1/me", Access::User),
    (Method::POST, "/api/v1/me/password", Access::AnySession),
    (Method::GET, "/api/v1/directory", Access::User),
    (Method::GET, "/api/v1/units", Access::Staff),
    (Method::POST, "/api/v1/units", Access::Operator),
    (Method::GET, "/api/v1/units/{unit}", Access::Staff),
    (Method::GET, "/api/v1/mailboxes", Access::Staff),
    (Method::POST, "/api/v1/mailboxes", Access::Operator),
    (Method::GET, "/api/v1/mailboxes/{address}", Access::User),
    (
        Method::PATCH,
        "/api/v1/mailboxes/{address}",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/mailboxes/{address}/suspend",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/mailboxes/{address}/resume",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/mailboxes/{address}/revoke",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/mailboxes/{address}/restore",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/mailboxes/{address}/reset-password",
        Access::Operator,
    ),
    (Method::GET, "/api/v1/requests", Access::Staff),
    (Method::POST, "/api/v1/requests", Access::Staff),
    (
        Method::POST,
        "/api/v1/requests/{id}/approve",
        Access::Operator,
    ),
    (
        Method::POST,
        "/api/v1/requests/{id}/reject",
        Access::Operator,
    ),
    (Method::GET, "/api/v1/audit", Access::Operator),
    (Method::GET, "/api/v1/audit/verify", Access::Operator),
];

pub fn access_of(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The authenticated caller, put in the request's extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub role: Role,
    pub credential: ApiCredential,
    pub ip: String,
}

impl Caller {
    /// The audit log's view of the caller.
    pub fn who(&self) -> Who {
        Who {
            actor: self.account.address.clone(),
            role: self.role.as_str().into(),
            source_ip: self.ip.clone(),
            ..Who::default()
        }
    }

    /// Whether the caller may manage things of `unit`: the operator everywhere, an IT contact
    /// in their units and the units below them (R-ACC-6), nobody else.
    pub fn reaches_unit(&self, nodes: &[UnitNode], unit: Option<UnitId>) -> bool {
        match &self.role {
            Role::Operator => true,
            Role::UnitContact(own) => {
                unit.is_some_and(|u| own.iter().any(|&o| is_within(nodes, u, o)))
            }
            Role::User => false,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }
}

/// A new secret: 32 random bytes as hex, with `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What is stored for a secret.
pub fn secret_hash(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// The secret the request carries: `Authorization: Bearer …`, else the session cookie.
pub fn presented_secret(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The client's IP address as a string, for the audit log and the login limits.
pub fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

/// The guard in front of every `/api/v1` route: finds the route's [`Access`], authenticates
/// the caller when the route is not public, checks the role, and hands the [`Caller`] on.
pub async fn guard(State(state): State<Arc<WebState>>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let Some(access) = access_of(req.method(), &path) else {
        tracing::error!(%path, method = %req.method(), "route without an access rule refused");
        return ApiError::forbidden("this route has no access rule; it is refused").into_response();
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    let ip = client_ip(&req);
    let caller = match authenticate(&state, req.headers(), ip).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !caller.credential.restricted.is_empty() && access != Access::AnySession {
        let why = match caller.credential.restricted.as_str() {
            "expired" => "your password has expired",
            _ => "your password was newly set or reset and must be changed",
        };
        return ApiError::forbidden(format!(
            "{why}: change it with POST /api/v1/me/password before anything else"
        ))
        .into_response();
    }
    let allowed = match access {
        Access::Public | Access::AnySession | Access::User => true,
        Access::Staff => matches!(caller.role, Role::Operator | Role::UnitContact(_)),
        Access::Operator => caller.role == Role::Operator,
    };
    if !allowed {
        let needs = match access {
            Access::Staff => "the operator or a unit IT contact",
            _ => "the operator",
        };
        return ApiError::forbidden(format!(
            "this needs {needs}; {} is a {}",
            caller.account.address,
            caller.role.as_str()
        ))
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

async fn authenticate(
    state: &WebState,
    headers: &HeaderMap,
    ip: String,
) -> Result<Caller, ApiError> {
    let secret = presented_secret(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "log in first: POST /api/v1/session, then send the cookie or Authorization: Bearer",
        )
    })?;
    // Anything longer than our own secrets is not one of them; do not hash megabytes.
    if secret.len() > 128 {
        return Err(ApiError::unauthorized("the session or token is not valid"));
    }
    let now = state.ops.now();
    let credential = state
        .ops
        .store
        .use_api_credential(&secret_hash(&secret), now)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("the session or token is not valid or has expired; log in again")
        })?;
    let account = state
        .ops
        .store
        .account_by_id(credential.account)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the mailbox of this session no longer exists"))?;
    if account.state != AccountState::Active {
        return Err(ApiError::forbidden(format!(
            "the mailbox {} is {}",
            account.address,
            account.state.as_str()
        )));
    }
    let role = state.ops.role_of(&account).await?;
    Ok(Caller {
        account,
        role,
        credential,
        ip,
    })
}

/// Limits on failed logins, per address and per client IP.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures of one address within `window` before it is locked.
    pub per_address: u32,
    /// Failures from one IP within `window` before it is locked.
    pub per_ip: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Added to each failed answer per earlier failure (at most 5 times), to slow guessing.
    pub delay_step: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_address: 5,
            per_ip: 30,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            delay_step: Duration::from_millis(200),
        }
    }
}

/// Keys remembered at most; past this, the oldest half is forgotten (memory stays bounded
/// whatever a client sends).
const MAX_TRACKED: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins in memory.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    pub fn new(limits: LoginLimits) -> LoginThrottle {
        LoginThrottle {
            limits,
            failures: Mutex::default(),
        }
    }

    fn keys(address: &str, ip: &str) -> [String; 2] {
        [
            format!("a:{}", address.trim().to_lowercase()),
            format!("i:{ip}"),
        ]
    }

    /// How long the address or IP stays locked, if it is.
    pub fn locked(&self, address: &str, ip: &str, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        Self::keys(address, ip)
            .iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Records a failure; returns how long to wait before answering.
    pub fn failed(&self, address: &str, ip: &str, now: Instant) -> Duration {
        let Ok(mut map) = self.failures.lock() else {
            return self.limits.delay_step;
        };
        if map.len() >= MAX_TRACKED {
            let mut by_age: Vec<(String, Instant)> =
                map.iter().map(|(k, f)| (k.clone(), f.since)).collect();
            by_age.sort_by_key(|(_, since)| *since);
            for (k, _) in by_age.into_iter().take(MAX_TRACKED / 2) {
                map.remove(&k);
            }
        }
        let mut worst = 0;
        for (key, limit) in Self::keys(address, ip)
            .into_iter()
            .zip([self.limits.per_address, self.limits.per_ip])
        {
            let f = map.entry(key).or_insert(Failures {
                count: 0,
                since: now,
                locked_until: None,
            });
            if now.duration_since(f.since) > self.limits.window {
                *f = Failures {
                    count: 0,
                    since: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= limit {
                f.locked_until = Some(now + self.limits.lockout);
            }
            worst = worst.max(f.count);
        }
        self.limits.delay_step * worst.min(5)
    }

    /// A successful login clears the address's failures (not the IP's).
    pub fn succeeded(&self, address: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&format!("a:{}", address.trim().to_lowercase()));
        }
    }
}

/// Only sessions may be ended by logging out; tokens are revoked with `congvu token revoke`.
pub fn is_session(c: &ApiCredential) -> bool {
    c.kind == ApiCredentialKind::Session
}
