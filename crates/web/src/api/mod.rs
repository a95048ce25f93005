//! The routes of `/api/v1`, one file per resource, and the OpenAPI document built from them.
//!
//! Every handler is registered through `utoipa_axum::routes!`, so a route cannot exist
//! without its place in the document; [`document`] then writes each operation's roles from
//! `auth::ROUTES` as `x-congvu-roles` (and `x-congvu-public` for routes without login).

pub mod audit;
pub mod directory;
pub mod mailboxes;
pub mod me;
pub mod requests;
pub mod session;
pub mod units;

use crate::WebState;
use crate::auth::{Access, access_of};
use crate::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "congvu API",
        description = "The JSON API of congvu (Hệ thống thư điện tử công vụ): units, mailboxes, requests, \
                       audit and directory. Log in with POST /api/v1/session; send the session cookie \
                       or `Authorization: Bearer <token>`. Errors are {\"error\": \"…\"}."
    ),
    tags((name = "congvu"))
)]
struct ApiDoc;

/// The API's router (before the guard is layered on) and its OpenAPI document.
pub fn routes() -> (Router<Arc<WebState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login, session::logout))
        .routes(routes!(openapi_json))
        .routes(routes!(me::show))
        .routes(routes!(me::change_password))
        .routes(routes!(directory::search))
        .routes(routes!(units::list, units::create))
        .routes(routes!(units::show))
        .routes(routes!(mailboxes::list, mailboxes::create))
        .routes(routes!(mailboxes::show, mailboxes::update))
        .routes(routes!(mailboxes::suspend))
        .routes(routes!(mailboxes::resume))
        .routes(routes!(mailboxes::revoke))
        .routes(routes!(mailboxes::restore))
        .routes(routes!(mailboxes::reset_password))
        .routes(routes!(requests::list, requests::file))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::reject))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .split_for_parts()
}

/// The document as JSON, with each operation's roles from `auth::ROUTES`.
pub fn document(mut openapi: utoipa::openapi::OpenApi) -> String {
    for (path, item) in openapi.paths.paths.iter_mut() {
        for (method, op) in [
            (Method::GET, item.get.as_mut()),
            (Method::POST, item.post.as_mut()),
            (Method::PATCH, item.patch.as_mut()),
            (Method::DELETE, item.delete.as_mut()),
            (Method::PUT, item.put.as_mut()),
        ] {
            let Some(op) = op else { continue };
            // A route missing from the table gets no roles: the guard refuses it, and the
            // end-to-end test that reads this document fails on it.
            let access = access_of(&method, path);
            let roles: Vec<&str> = access.map(|a| a.roles().to_vec()).unwrap_or_default();
            let mut ext: Extensions = [("x-congvu-roles", serde_json::json!(roles))]
                .into_iter()
                .collect();
            if access == Some(Access::Public) {
                ext.insert("x-congvu-public".into(), serde_json::json!(true));
            }
            if access == Some(Access::AnySession) {
                ext.insert("x-congvu-restricted-ok".into(), serde_json::json!(true));
            }
            op.extensions = Some(ext);
        }
    }
    openapi.to_json().unwrap_or_else(|e| {
        format!("{{\"error\":\"the OpenAPI document cannot be written: {e}\"}}")
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "congvu",
    responses((status = 200, description = "The OpenAPI document")))]
pub async fn openapi_json(State(state): State<Arc<WebState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.clone(),
    )
}

/// Anything else: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::not_found("there is no such page or API route")
}
