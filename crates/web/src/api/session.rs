//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out).
//!
//! The password is checked by `congvu_store::login::check_login`, the same check IMAP, POP3
//! and SMTP use (Argon2 off the runtime, failures audited). A password that expired or must be
//! changed still gets a session, restricted to `POST /api/v1/me/password` (R-POL-2).

use crate::WebState;
use crate::auth::{Caller, SESSION_COOKIE, client_ip, is_session, new_secret, secret_hash};
use crate::error::{ApiError, ApiJson, ErrorBody};
use axum::extract::{Extension, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use congvu_core::lifecycle::PasswordState;
use congvu_store::login::{LoginPolicy, LoginRefusal, LoginService, check_login};
use congvu_store::{AccountState, ApiCredentialKind, NewApiCredential};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub address: String,
    pub password: String,
    /// The six-digit code, for a mailbox with the second factor on.
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// The session secret (also set as the `congvu_session` cookie); send it as
    /// `Authorization: Bearer <token>`.
    pub token: String,
    pub address: String,
    /// operator, unit-contact or user.
    pub role: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// Empty, or why this session may only change the password ("expired", "must-change").
    pub restricted: String,
}

/// Log in with an address and a password (and a TOTP code when the mailbox has one).
#[utoipa::path(post, path = "/api/v1/session", tag = "congvu", request_body = LoginBody,
    responses(
        (status = 200, body = SessionOut),
        (status = 401, body = ErrorBody, description = "wrong address, password or code"),
        (status = 403, body = ErrorBody, description = "the mailbox is suspended or revoked"),
        (status = 429, body = ErrorBody, description = "too many failed logins"),
    ))]
pub async fn login(State(state): State<Arc<WebState>>, req: Request) -> Result<Response, ApiError> {
    let ip = client_ip(&req);
    let ApiJson(body) = ApiJson::<LoginBody>::from_request(req, &state).await?;
    if let Some(wait) = state.throttle.locked(&body.address, &ip, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed logins for this address or from this computer; try again in {} minutes",
                wait.as_secs().div_ceil(60).max(1)
            ),
        ));
    }
    let ops = &state.ops;
    let now = ops.now();
    let policy = LoginPolicy {
        user_password_max_age: ops.settings.user_max_age,
        admin_password_max_age: ops.settings.admin_max_age,
        security: state.config.login_security,
    };
    let result = check_login(
        ops.store.as_ref(),
        &policy,
        LoginService::Web,
        &body.address,
        &body.password,
        body.totp.as_deref(),
        &ip,
        now,
    )
    .await;
    let ok = match result {
        Ok(ok) => ok,
        Err(refusal) => {
            if !matches!(
                refusal,
                LoginRefusal::Store(_) | LoginRefusal::Backoff { .. }
            ) {
                let wait = state.throttle.failed(&body.address, &ip, Instant::now());
                tokio::time::sleep(wait).await;
            }
            return Err(refusal_error(refusal));
        }
    };
    state.throttle.succeeded(&body.address);
    let restricted = match ok.password_state {
        PasswordState::Expired => "expired",
        PasswordState::MustChange => "must-change",
        PasswordState::Valid | PasswordState::ExpiresSoon(_) => "",
    };
    let token = new_secret("");
    let expires_at = now.saturating_add(state.config.session_ttl.as_secs() as i64);
    ops.store
        .create_api_credential(NewApiCredential {
            token_hash: secret_hash(&token),
            account: ok.account.id,
            kind: ApiCredentialKind::Session,
            label: String::new(),
            restricted: restricted.into(),
            created_at: now,
            expires_at: Some(expires_at),
        })
        .await?;
    let role = ops.role_of(&ok.account).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.config.session_ttl.as_secs()
    );
    let out = SessionOut {
        token,
        address: ok.account.address,
        role: role.as_str().into(),
        expires_at,
        restricted: restricted.into(),
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(out)).into_response())
}

fn refusal_error(refusal: LoginRefusal) -> ApiError {
    match refusal {
        LoginRefusal::BadCredentials => {
            ApiError::unauthorized("the address or the password is wrong")
        }
        LoginRefusal::Disabled(AccountState::Suspended) => ApiError::forbidden(
            "this mailbox is suspended (khóa tạm thời); ask your unit's IT contact",
        ),
        LoginRefusal::Disabled(_) => {
            ApiError::forbidden("this mailbox is revoked (thu hồi); ask your unit's IT contact")
        }
        LoginRefusal::SecondFactorRequired => ApiError::unauthorized(
            "this mailbox needs a second factor: send the current six-digit code as \"totp\"",
        ),
        LoginRefusal::Expired | LoginRefusal::MustChange | LoginRefusal::AppPasswordRequired => {
            ApiError::forbidden(refusal.reason())
        }
        LoginRefusal::Backoff { retry_after } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            LoginRefusal::wait_sentence(retry_after),
        ),
        LoginRefusal::Store(e) => ApiError::from(e),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    pub ok: bool,
}

/// Log out: the session ends now and its cookie is cleared.
#[utoipa::path(delete, path = "/api/v1/session", tag = "congvu",
    responses((status = 200, body = LoggedOut), (status = 409, body = ErrorBody)))]
pub async fn logout(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    if !is_session(&caller.credential) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this is an API token, not a session: revoke it with `congvu token revoke`",
        ));
    }
    state
        .ops
        .store
        .delete_api_credential(&caller.credential.token_hash)
        .await?;
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(LoggedOut { ok: true }),
    )
        .into_response())
}
