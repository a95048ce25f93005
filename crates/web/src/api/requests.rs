//! `/api/v1/requests`: requests filed by unit IT contacts and decided by the operator
//! (R-ACC-6). The rules are `ops::file_request` / `approve_request` / `reject_request`, shared
//! with `congvu request …`.

use crate::WebState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::ops::request_kind;
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use congvu_store::{NewRequest, Request, RequestStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestOut {
    pub id: i64,
    /// new-mailbox, change, reset, suspend, revoke or restore.
    pub kind: String,
    /// pending, done, failed or rejected.
    pub status: String,
    pub requested_by: String,
    pub unit: Option<i64>,
    pub mailbox: String,
    pub name: String,
    pub title: String,
    pub phone: String,
    pub reason: String,
    pub filed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_reason: String,
    pub result: String,
    /// A one-time password made by approving a new-mailbox or reset request (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

fn out(r: Request) -> RequestOut {
    RequestOut {
        id: r.id,
        kind: r.kind.as_str().into(),
        status: r.status.as_str().into(),
        requested_by: r.requested_by,
        unit: r.unit,
        mailbox: r.mailbox,
        name: r.name,
        title: r.title,
        phone: r.phone,
        reason: r.reason,
        filed_at: r.filed_at,
        decided_by: r.decided_by,
        decided_at: r.decided_at,
        decision_reason: r.decision_reason,
        result: r.result,
        password: None,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// pending, done, failed or rejected.
    pub status: Option<String>,
}

/// Requests: all for the operator, their own for an IT contact.
#[utoipa::path(get, path = "/api/v1/requests", tag = "congvu", params(ListQuery),
    responses((status = 200, body = Vec<RequestOut>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RequestOut>>, ApiError> {
    let status = match &q.status {
        Some(s) => Some(RequestStatus::from_token(s).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!("status {s}: use pending, done, failed or rejected"),
            )
        })?),
        None => None,
    };
    let requests = state.ops.store.list_requests(status).await?;
    Ok(Json(
        requests
            .into_iter()
            .filter(|r| {
                caller.is_operator() || r.requested_by.eq_ignore_ascii_case(&caller.account.address)
            })
            .map(out)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRequestBody {
    /// new-mailbox, change, reset, suspend, revoke or restore.
    pub kind: String,
    /// The unit (new-mailbox; a new unit for change): id or unit mailbox address.
    #[serde(default)]
    pub unit: Option<String>,
    /// The mailbox concerned (all kinds but new-mailbox).
    #[serde(default)]
    pub mailbox: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub reason: String,
}

/// File a request for a mailbox of one's units (or a new one in them).
#[utoipa::path(post, path = "/api/v1/requests", tag = "congvu", request_body = NewRequestBody,
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn file(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewRequestBody>,
) -> Result<Json<RequestOut>, ApiError> {
    let ops = &state.ops;
    let kind = request_kind(&body.kind)?;
    let unit = match &body.unit {
        Some(u) => Some(ops.unit(u).await?.id),
        None => None,
    };
    let request = ops
        .file_request(
            NewRequest {
                kind,
                requested_by: String::new(),
                unit,
                mailbox: body.mailbox,
                name: body.name,
                title: body.title,
                phone: body.phone,
                reason: body.reason,
                filed_at: 0,
            },
            &caller.account,
            &caller.ip,
        )
        .await?;
    Ok(Json(out(request)))
}

/// Approve a pending request; the system carries it out.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "congvu",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, body = RequestOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<RequestOut>, ApiError> {
    let approved = state
        .ops
        .approve_request(id, &caller.account, &caller.ip)
        .await?;
    let mut o = out(approved.request);
    o.password = approved.password;
    Ok(Json(o))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RejectBody {
    pub reason: String,
}

/// Reject a pending request with a reason.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "congvu", request_body = RejectBody,
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, body = RequestOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<RequestOut>, ApiError> {
    let r = state
        .ops
        .reject_request(id, &caller.account, &body.reason, &caller.ip)
        .await?;
    Ok(Json(out(r)))
}
