//! `GET /directory`: the public page listing the province's units and their addresses
//! (R-ACC-4: "the operator can publish the unit part"), served only when
//! `[directory] public = true`; 404 otherwise. Only units are listed, never persons.
//!
//! Keeps true: every piece of text from the database is HTML-escaped (`escape`) before it is
//! written into the page.

use crate::WebState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use congvu_core::unit::UnitNode;
use std::sync::Arc;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new().route("/directory", get(page))
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn page(State(state): State<Arc<WebState>>) -> Result<Response, ApiError> {
    if !state.config.public_directory {
        return Err(ApiError::not_found("there is no such page or API route"));
    }
    let store = &state.ops.store;
    let units = store.list_units().await?;
    let nodes: Vec<UnitNode> = state.ops.unit_nodes().await?;
    let mut rows = String::new();
    // Units in tree order, indented by depth, so the page reads like the province's tree.
    let mut stack: Vec<(i64, usize)> = nodes
        .iter()
        .filter(|n| n.parent.is_none())
        .rev()
        .map(|n| (n.id, 0))
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((id, depth)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(unit) = units.iter().find(|u| u.id == id) else {
            continue;
        };
        let address = match unit.account {
            Some(a) => store.account_by_id(a).await?.map(|a| a.address),
            None => None,
        };
        let link = address
            .map(|a| format!("<a href=\"mailto:{0}\">{0}</a>", escape(&a)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td style=\"padding-left:{}em\">{}</td><td>{}</td></tr>\n",
            depth * 2,
            escape(&unit.name),
            link
        ));
        for child in nodes.iter().filter(|n| n.parent == Some(id)).rev() {
            stack.push((child.id, depth + 1));
        }
    }
    let domain = escape(state.ops.domain());
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <title>Danh bạ thư điện tử — {domain}</title></head><body>\n\
         <h1>Danh bạ thư điện tử công vụ — {domain}</h1>\n\
         <table>\n<tr><th>Đơn vị</th><th>Địa chỉ thư</th></tr>\n{rows}</table>\n</body></html>\n"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        html,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"Sở\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Sở&quot;"
        );
    }
}
