//! Errors of the JSON API, mapped to HTTP statuses in one place: every error leaves as
//! `{"error": "<a sentence>"}` with the status that says what kind of problem it is.

use crate::ops::OpsError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use congvu_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, where it helps, what to do.
    pub error: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        let status = match &e {
            OpsError::NotFound(_) => StatusCode::NOT_FOUND,
            OpsError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            OpsError::Forbidden(_) => StatusCode::FORBIDDEN,
            OpsError::Conflict(_) => StatusCode::CONFLICT,
            OpsError::Store(s) => return ApiError::from_store(s),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from_store(&e)
    }
}

impl ApiError {
    fn from_store(e: &StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::AlreadyExists(what) => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            StoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage is unavailable; try again later",
                )
            }
        }
    }
}

/// `Json<T>` whose rejections (bad JSON, a missing field, a wrong content type) are JSON
/// errors like every other answer.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError::new(
                e.status(),
                format!("bad request body: {}", e.body_text()),
            )),
        }
    }
}
