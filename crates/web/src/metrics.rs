//! `GET /metrics`: Prometheus text format (version 0.0.4) on `[listen] http` (R-OPS-5).
//!
//! What it shows: everything counted in `congvu_core::metrics` (the time of each pipeline
//! check, messages per entry point and verdict, logins per service and result, security
//! events per kind), and, read at scrape time, the outbound queue (pending recipients, held
//! messages).
//!
//! Who may read it: clients on loopback (a Prometheus or node agent on the same machine), and
//! any client that sends `Authorization: Bearer <[security] metrics_token>` when that token is
//! set. Others get 403. The numbers name no mailbox, but the route is still not public: the
//! counts of failed logins tell an attacker how the server reacts.

use crate::WebState;
use crate::auth::client_ip;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new().route("/metrics", get(metrics))
}

/// Loopback, or the configured bearer token (compared by hash, in constant time).
fn allowed(state: &WebState, req: &Request) -> bool {
    if congvu_core::security::is_loopback(&client_ip(req)) {
        return true;
    }
    let Some(token) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return false;
    };
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // blake3::Hash compares in constant time.
    blake3::hash(sent.trim().as_bytes()) == blake3::hash(token.as_bytes())
}

async fn metrics(State(state): State<Arc<WebState>>, req: Request) -> Response {
    if !allowed(&state, &req) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are served to loopback clients and to the [security] metrics_token bearer\n",
        )
            .into_response();
    }
    let mut text = congvu_core::metrics::render();
    match state.ops.store.queue_size().await {
        Ok((pending, held)) => {
            text.push_str(&congvu_core::metrics::render_gauge(
                "congvu_queue_recipients",
                "Recipients in the outbound queue still to be delivered (held included).",
                &[(&[("state", "pending")], pending)],
            ));
            text.push_str(&congvu_core::metrics::render_gauge(
                "congvu_queue_held_messages",
                "Queued messages held after a sending anomaly until the operator releases them.",
                &[(&[], held)],
            ));
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the queue size"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
