//! `GET /api/v1/directory?q=`: the province's directory (R-ACC-4) for every logged-in user.
//! A query without diacritics matches names with or without them ("nguyen" finds
//! "Nguyễn"); one with diacritics matches them exactly. Names, unit names, titles and
//! addresses are searched. Revoked mailboxes are not listed.

use crate::WebState;
use crate::error::{ApiError, ErrorBody};
use crate::ops::Ops;
use axum::Json;
use axum::extract::{Query, State};
use congvu_core::fold::{fold_diacritics, has_diacritics, normalize_lower};
use congvu_store::{AccountKind, AccountState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// At most this many entries are returned; narrow the query for more.
pub const MAX_RESULTS: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Words to look for; empty lists everyone.
    #[serde(default)]
    pub q: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectoryEntry {
    pub address: String,
    pub name: String,
    /// person or unit.
    pub kind: String,
    pub unit: Option<String>,
    pub title: String,
    pub phone: String,
}

/// Every listed mailbox (persons and units; not operators, not revoked), by unit then name.
pub async fn entries(ops: &Ops) -> Result<Vec<DirectoryEntry>, ApiError> {
    let units: HashMap<i64, String> = ops
        .store
        .list_units()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let mut out = Vec::new();
    for a in ops.store.list_accounts().await? {
        if a.kind == AccountKind::Operator || a.state == AccountState::Revoked {
            continue;
        }
        let d = ops.details(&a).await?;
        let unit = ops
            .unit_of(&a, &d)
            .await?
            .and_then(|id| units.get(&id).cloned());
        out.push(DirectoryEntry {
            address: a.address,
            name: a.display_name,
            kind: a.kind.as_str().into(),
            unit,
            title: d.title,
            phone: d.phone,
        });
    }
    out.sort_by(|x, y| (&x.unit, &x.name).cmp(&(&y.unit, &y.name)));
    Ok(out)
}

/// Whether every word of `query` is in one of the entry's fields.
pub fn matches(entry: &DirectoryEntry, query: &str) -> bool {
    let exact = has_diacritics(query);
    let prepare = |s: &str| {
        if exact {
            normalize_lower(s)
        } else {
            fold_diacritics(s)
        }
    };
    let haystack = prepare(&format!(
        "{} {} {} {}",
        entry.name,
        entry.unit.as_deref().unwrap_or(""),
        entry.title,
        entry.address
    ));
    prepare(query)
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// Search the directory by name (with or without diacritics), unit, title or address.
#[utoipa::path(get, path = "/api/v1/directory", tag = "congvu", params(SearchQuery),
    responses((status = 200, body = Vec<DirectoryEntry>), (status = 401, body = ErrorBody)))]
pub async fn search(
    State(state): State<Arc<WebState>>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<DirectoryEntry>>, ApiError> {
    if q.q.len() > 200 {
        return Err(ApiError::bad_request("the query is longer than 200 bytes"));
    }
    let all = entries(&state.ops).await?;
    Ok(Json(
        all.into_iter()
            .filter(|e| matches(e, &q.q))
            .take(MAX_RESULTS)
            .collect(),
    ))
}
