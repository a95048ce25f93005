//! `/api/v1/units`: the unit tree (R-ACC-1). The operator sees and creates everything; a unit
//! IT contact sees their units and the units below them.

use crate::WebState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::ops::unit_kind;
use axum::Json;
use axum::extract::{Extension, Path, State};
use congvu_core::unit::kind_token;
use congvu_store::{Store, Unit};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitOut {
    pub id: i64,
    pub name: String,
    /// province, department, board, association, sector, district, town, city, division,
    /// commune, ward, township or other.
    pub kind: String,
    pub parent: Option<i64>,
    /// The unit mailbox's address.
    pub address: Option<String>,
}

pub async fn unit_out(store: &dyn Store, u: &Unit) -> Result<UnitOut, ApiError> {
    let address = match u.account {
        Some(id) => store.account_by_id(id).await?.map(|a| a.address),
        None => None,
    };
    Ok(UnitOut {
        id: u.id,
        name: u.name.clone(),
        kind: kind_token(u.kind).into(),
        parent: u.parent,
        address,
    })
}

/// Units within the caller's reach, by id.
#[utoipa::path(get, path = "/api/v1/units", tag = "congvu",
    responses((status = 200, body = Vec<UnitOut>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<UnitOut>>, ApiError> {
    let nodes = state.ops.unit_nodes().await?;
    let mut out = Vec::new();
    for u in state.ops.store.list_units().await? {
        if caller.reaches_unit(&nodes, Some(u.id)) {
            out.push(unit_out(state.ops.store.as_ref(), &u).await?);
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUnitBody {
    /// Vietnamese name, as written ("Sở Thông tin và Truyền thông").
    pub name: String,
    /// A kind token (see UnitOut.kind).
    pub kind: String,
    /// The parent unit: id or unit mailbox address.
    #[serde(default)]
    pub parent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitCreated {
    pub unit: UnitOut,
    /// The unit mailbox's address, made by the naming rules (R-ACC-3).
    pub address: String,
    /// One-time password of the unit mailbox: shown once.
    pub password: String,
}

/// Create a unit and its unit mailbox.
#[utoipa::path(post, path = "/api/v1/units", tag = "congvu", request_body = NewUnitBody,
    responses((status = 200, body = UnitCreated), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewUnitBody>,
) -> Result<Json<UnitCreated>, ApiError> {
    let ops = &state.ops;
    let kind = unit_kind(&body.kind)?;
    let parent = match &body.parent {
        Some(p) => Some(ops.unit(p).await?),
        None => None,
    };
    let (unit, account, password) = ops
        .add_unit(&body.name, kind, parent.as_ref(), &caller.who())
        .await?;
    Ok(Json(UnitCreated {
        unit: unit_out(ops.store.as_ref(), &unit).await?,
        address: account.address,
        password,
    }))
}

/// One unit, by id or unit mailbox address.
#[utoipa::path(get, path = "/api/v1/units/{unit}", tag = "congvu",
    params(("unit" = String, Path, description = "id or unit mailbox address")),
    responses((status = 200, body = UnitOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    Path(unit): Path<String>,
) -> Result<Json<UnitOut>, ApiError> {
    let u = state.ops.unit(&unit).await?;
    if !caller.reaches_unit(&state.ops.unit_nodes().await?, Some(u.id)) {
        return Err(ApiError::forbidden(format!(
            "unit {unit} is not one {} is an IT contact of",
            caller.account.address
        )));
    }
    Ok(Json(unit_out(state.ops.store.as_ref(), &u).await?))
}
