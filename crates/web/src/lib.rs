//! HTTP for congvu: the JSON API under `/api/v1` (with its OpenAPI document at
//! `/api/v1/openapi.json`) and the public directory page at `/directory`.
//!
//! Keeps true:
//! - Every `/api/v1` route passes through one guard (`auth::guard`) that authenticates the
//!   caller and checks the route's role from one table (`auth::ROUTES`); handlers then limit
//!   what a unit IT contact or a user sees to their reach.
//! - Everything the operator's commands do goes through `ops`, shared with the CLI, so the
//!   rules and the audit entries are the same whichever way a change is made.
//! - Request bodies are bounded (`MAX_BODY`) and every request has a deadline
//!   (`REQUEST_TIMEOUT`), so a client cannot hold memory or a task forever.
//! - This crate knows no mail protocol: it depends on core and store only.

pub mod api;
pub mod auth;
pub mod error;
pub mod metrics;
pub mod ops;
pub mod public;
pub mod retention;

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// JSON bodies are small (a name, a password): 64 KiB is plenty.
pub const MAX_BODY: usize = 64 * 1024;
/// A request that has not been answered in this time gets 408 (argon2 takes well under 1 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The web server's settings, from `[listen] http`, `[directory]` and `[policy]`.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// `[directory] public`: serve `/directory` to anyone.
    pub public_directory: bool,
    /// Failed-login limits.
    pub login_limits: auth::LoginLimits,
    /// `[security]`: the shared failed-login backoff and new-network alerts (R-POL-9).
    pub login_security: congvu_core::security::SecurityPolicy,
    /// `[security] metrics_token`: a bearer token that may read `GET /metrics` from any
    /// address (without it, only loopback clients may).
    pub metrics_token: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_ttl: Duration::from_secs(8 * 3600),
            public_directory: false,
            login_limits: auth::LoginLimits::default(),
            login_security: congvu_core::security::SecurityPolicy::default(),
            metrics_token: None,
        }
    }
}

/// What every handler shares.
pub struct WebState {
    pub ops: ops::Ops,
    pub config: WebConfig,
    pub throttle: auth::LoginThrottle,
    /// The OpenAPI document, rendered once.
    pub openapi_json: String,
}

/// The whole HTTP application.
pub fn router(ops: ops::Ops, config: WebConfig) -> Router {
    let (api, openapi) = api::routes();
    let openapi_json = api::document(openapi);
    let state = Arc::new(WebState {
        ops,
        throttle: auth::LoginThrottle::new(config.login_limits),
        config,
        openapi_json,
    });
    api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::guard,
    ))
    .merge(public::routes())
    .merge(metrics::routes())
    .fallback(api::not_found)
    .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ))
    .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets requests in flight
/// finish (graceful drain).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
