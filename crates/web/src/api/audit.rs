//! `/api/v1/audit`: the hash-chained audit log (R-POL-10), for the operator.

use crate::WebState;
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::extract::State;
use congvu_store::audit_chain::verify_chain;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub requested_by: String,
    pub approved_by: String,
    pub source_ip: String,
    pub detail: String,
    pub hash: String,
}

/// Every entry, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "congvu",
    responses((status = 200, body = Vec<AuditOut>), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<Arc<WebState>>) -> Result<Json<Vec<AuditOut>>, ApiError> {
    let entries = state.ops.store.list_audit().await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditOut {
                id: e.id,
                at: e.entry.at,
                actor: e.entry.actor,
                role: e.entry.role,
                action: e.entry.action,
                target: e.entry.target,
                requested_by: e.entry.requested_by,
                approved_by: e.entry.approved_by,
                source_ip: e.entry.source_ip,
                detail: e.entry.detail,
                hash: e.hash,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Whether every entry's hash and link are intact.
    pub ok: bool,
    pub entries: usize,
    /// The first broken entry, when not ok.
    pub broken_entry: Option<i64>,
    pub reason: Option<String>,
}

/// Checks the hash chain: an edited or deleted row breaks it.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "congvu",
    responses((status = 200, body = Verified), (status = 403, body = ErrorBody)))]
pub async fn verify(State(state): State<Arc<WebState>>) -> Result<Json<Verified>, ApiError> {
    let entries = state.ops.store.list_audit().await?;
    Ok(Json(match verify_chain(&entries) {
        Ok(n) => Verified {
            ok: true,
            entries: n,
            broken_entry: None,
            reason: None,
        },
        Err(b) => Verified {
            ok: false,
            entries: entries.len(),
            broken_entry: Some(b.id),
            reason: Some(b.reason),
        },
    }))
}
