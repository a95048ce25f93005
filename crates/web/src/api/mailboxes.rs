//! `/api/v1/mailboxes`: list, create, show, update, and the lifecycle (R-ACC-5) of mailboxes.
//! Creating and changing is the operator's; a unit IT contact sees the mailboxes of their
//! units (and files requests for changes); a user sees their own.

use crate::WebState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::ops::{Ops, to_lifecycle};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use congvu_core::lifecycle::{LifecycleAction, PasswordState, password_state};
use congvu_store::{Account, AccountDetails};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxOut {
    pub id: i64,
    pub address: String,
    pub name: String,
    /// person, unit or operator.
    pub kind: String,
    /// active, suspended or revoked.
    pub state: String,
    pub unit: Option<i64>,
    pub unit_name: Option<String>,
    pub title: String,
    pub phone: String,
    /// valid, expires-soon, expired or must-change.
    pub password_state: String,
    /// Seconds since the epoch.
    pub password_changed_at: i64,
    /// The caller's role (only in `GET /api/v1/me`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

pub async fn mailbox_out(ops: &Ops, a: &Account) -> Result<MailboxOut, ApiError> {
    let d = ops.details(a).await?;
    out_with(ops, a, &d).await
}

async fn out_with(ops: &Ops, a: &Account, d: &AccountDetails) -> Result<MailboxOut, ApiError> {
    let unit_id = ops.unit_of(a, d).await?;
    let unit_name = match unit_id {
        Some(id) => ops.store.unit_by_id(id).await?.map(|u| u.name),
        None => None,
    };
    let changed = if d.password_changed_at > 0 {
        d.password_changed_at
    } else {
        a.created_at
    };
    let pw = match password_state(
        changed,
        ops.now(),
        ops.max_age(a.kind),
        d.must_change_password,
    ) {
        PasswordState::Valid => "valid",
        PasswordState::ExpiresSoon(_) => "expires-soon",
        PasswordState::Expired => "expired",
        PasswordState::MustChange => "must-change",
    };
    Ok(MailboxOut {
        id: a.id,
        address: a.address.clone(),
        name: a.display_name.clone(),
        kind: a.kind.as_str().into(),
        state: to_lifecycle(a.state).as_str().into(),
        unit: unit_id,
        unit_name,
        title: d.title.clone(),
        phone: d.phone.clone(),
        password_state: pw.into(),
        password_changed_at: changed,
        role: None,
    })
}

/// The mailbox at `address` if the caller may see it: the operator any, an IT contact those of
/// their units, a user their own.
async fn visible(state: &WebState, caller: &Caller, address: &str) -> Result<Account, ApiError> {
    let ops = &state.ops;
    let own = caller.account.address.eq_ignore_ascii_case(address.trim());
    if !own
        && !matches!(
            caller.role,
            congvu_core::request::Role::Operator | congvu_core::request::Role::UnitContact(_)
        )
    {
        return Err(ApiError::forbidden("a user may only see their own mailbox"));
    }
    let account = ops.account(address).await?;
    if own || caller.is_operator() {
        return Ok(account);
    }
    let d = ops.details(&account).await?;
    let unit = ops.unit_of(&account, &d).await?;
    if caller.reaches_unit(&ops.unit_nodes().await?, unit) {
        Ok(account)
    } else {
        Err(ApiError::forbidden(format!(
            "{address} is not in a unit {} is an IT contact of",
            caller.account.address
        )))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only mailboxes of this unit (id or unit mailbox address) and the units below it.
    pub unit: Option<String>,
}

/// Mailboxes: all for the operator, those of their units for an IT contact.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "congvu", params(ListQuery),
    responses((status = 200, body = Vec<MailboxOut>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<MailboxOut>>, ApiError> {
    let ops = &state.ops;
    let nodes = ops.unit_nodes().await?;
    let within = match &q.unit {
        Some(u) => {
            let unit = ops.unit(u).await?;
            if !caller.reaches_unit(&nodes, Some(unit.id)) {
                return Err(ApiError::forbidden(format!(
                    "unit {u} is not one {} is an IT contact of",
                    caller.account.address
                )));
            }
            Some(unit.id)
        }
        None => None,
    };
    let mut out = Vec::new();
    for (a, d) in ops.list_mailboxes(within).await? {
        if !caller.is_operator() && !caller.reaches_unit(&nodes, ops.unit_of(&a, &d).await?) {
            continue;
        }
        out.push(out_with(ops, &a, &d).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMailbox {
    /// Full Vietnamese name; the address is made from it (R-ACC-3).
    pub name: String,
    /// Unit id or unit mailbox address.
    pub unit: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub address: String,
    /// One-time password: shown once, must be changed at first use.
    pub password: String,
}

/// Create a personal mailbox; the address follows the naming rules and the one-time
/// password is shown once.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "congvu", request_body = NewMailbox,
    responses((status = 200, body = Created), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewMailbox>,
) -> Result<Json<Created>, ApiError> {
    let ops = &state.ops;
    let unit = ops.unit(&body.unit).await?;
    let (account, password) = ops
        .add_person(&body.name, &unit, &body.title, &body.phone, &caller.who())
        .await?;
    Ok(Json(Created {
        address: account.address,
        password,
    }))
}

/// One mailbox: the operator any, an IT contact those of their units, a user their own.
#[utoipa::path(get, path = "/api/v1/mailboxes/{address}", tag = "congvu",
    params(("address" = String, Path, description = "the mailbox's address")),
    responses((status = 200, body = MailboxOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> Result<Json<MailboxOut>, ApiError> {
    let account = visible(&state, &caller, &address).await?;
    Ok(Json(mailbox_out(&state.ops, &account).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MailboxChange {
    pub name: Option<String>,
    /// Unit id or unit mailbox address.
    pub unit: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
}

/// Change directory details; fields left out stay as they are.
#[utoipa::path(patch, path = "/api/v1/mailboxes/{address}", tag = "congvu", request_body = MailboxChange,
    params(("address" = String, Path, description = "the mailbox's address")),
    responses((status = 200, body = MailboxOut), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    ApiJson(body): ApiJson<MailboxChange>,
) -> Result<Json<MailboxOut>, ApiError> {
    let ops = &state.ops;
    let unit = match &body.unit {
        Some(u) => Some(ops.unit(u).await?),
        None => None,
    };
    ops.update(
        &address,
        body.name.as_deref(),
        unit.as_ref(),
        body.title.as_deref(),
        body.phone.as_deref(),
        &caller.who(),
    )
    .await?;
    let account = ops.account(&address).await?;
    Ok(Json(mailbox_out(ops, &account).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Reason {
    #[serde(default)]
    pub reason: String,
}

async fn lifecycle(
    state: &WebState,
    caller: &Caller,
    address: &str,
    action: LifecycleAction,
    reason: &str,
) -> Result<Json<MailboxOut>, ApiError> {
    let account = state
        .ops
        .change_state(address, action, reason, &caller.who())
        .await?;
    Ok(Json(mailbox_out(&state.ops, &account).await?))
}

macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "congvu", request_body = Reason,
            params(("address" = String, Path, description = "the mailbox's address")),
            responses((status = 200, body = MailboxOut), (status = 409, body = ErrorBody, description = "not allowed from the mailbox's state")))]
        pub async fn $name(
            State(state): State<Arc<WebState>>,
            Extension(caller): Extension<Caller>,
            Path(address): Path<String>,
            ApiJson(body): ApiJson<Reason>,
        ) -> Result<Json<MailboxOut>, ApiError> {
            lifecycle(&state, &caller, &address, $action, &body.reason).await
        }
    };
}

lifecycle_route!(
    suspend,
    "/api/v1/mailboxes/{address}/suspend",
    LifecycleAction::Suspend,
    "Suspend (khóa tạm thời): no login, mail still delivered."
);
lifecycle_route!(
    resume,
    "/api/v1/mailboxes/{address}/resume",
    LifecycleAction::Resume,
    "Resume a suspended mailbox."
);
lifecycle_route!(
    revoke,
    "/api/v1/mailboxes/{address}/revoke",
    LifecycleAction::Revoke,
    "Revoke (thu hồi): no login, no delivery, content kept for the retention period."
);
lifecycle_route!(
    restore,
    "/api/v1/mailboxes/{address}/restore",
    LifecycleAction::Restore,
    "Restore (khôi phục) a suspended or revoked mailbox with its content."
);

/// Reset the password to a one-time password (shown once; must be changed at first use).
#[utoipa::path(post, path = "/api/v1/mailboxes/{address}/reset-password", tag = "congvu",
    params(("address" = String, Path, description = "the mailbox's address")),
    responses((status = 200, body = Created), (status = 404, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> Result<Json<Created>, ApiError> {
    let password = state.ops.reset_password(&address, &caller.who()).await?;
    let account = state.ops.account(&address).await?;
    Ok(Json(Created {
        address: account.address,
        password,
    }))
}
