//! `GET /api/v1/me` and `POST /api/v1/me/password`: the caller's own mailbox.

use super::mailboxes::{MailboxOut, mailbox_out};
use crate::WebState;
use crate::auth::{Caller, is_session};
use crate::error::{ApiError, ApiJson, ErrorBody};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use congvu_core::password::verify_password;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The caller's own mailbox, with their role.
#[utoipa::path(get, path = "/api/v1/me", tag = "congvu",
    responses((status = 200, body = MailboxOut), (status = 401, body = ErrorBody)))]
pub async fn show(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<MailboxOut>, ApiError> {
    let mut out = mailbox_out(&state.ops, &caller.account).await?;
    out.role = Some(caller.role.as_str().into());
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    /// The password in use now.
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub ok: bool,
    pub message: String,
}

/// Change one's own password (R-POL-1, R-POL-2). A refusal names every rule broken. Allowed
/// for a session whose password expired or must be changed; that session ends afterwards.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "congvu", request_body = PasswordBody,
    responses(
        (status = 200, body = PasswordChanged),
        (status = 403, body = ErrorBody, description = "the current password is wrong"),
        (status = 422, body = ErrorBody, description = "the new password breaks rules, all named"),
    ))]
pub async fn change_password(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let ops = &state.ops;
    let account = ops.account(&caller.account.address).await?;
    let hash = account.password_hash.clone();
    let current = body.current_password.clone();
    let right = tokio::task::spawn_blocking(move || verify_password(&current, &hash))
        .await
        .unwrap_or(false);
    if !right {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    ops.set_password(&account.address, &body.new_password, &caller.who())
        .await
        .map_err(|e| match e {
            crate::ops::OpsError::Refused(m) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                m.replacen("--password is refused", "the new password is refused", 1),
            ),
            e => e.into(),
        })?;
    let mut message = "the password is changed".to_string();
    if !caller.credential.restricted.is_empty() && is_session(&caller.credential) {
        ops.store
            .delete_api_credential(&caller.credential.token_hash)
            .await?;
        message.push_str("; log in again with the new password");
    }
    Ok(Json(PasswordChanged { ok: true, message }))
}
