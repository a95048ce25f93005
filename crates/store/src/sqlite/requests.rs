//! Requests filed by unit IT contacts and decided by the operator (R-ACC-6).
//!
//! Keeps true: a decision is a compare-and-set on the status, so two operators approving the
//! same request at once cannot both carry it out: the second gets `Invalid`.

use super::Shared;
use super::account_details::foreign_key_or_db;
use super::rows::db;
use crate::{
    NewRequest, Request, RequestDecision, RequestId, RequestKind, RequestStatus, Result, StoreError,
};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

/// The columns `request_from_row` reads, in a `SELECT … FROM requests`.
macro_rules! select_requests {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, status, requested_by, unit_id, mailbox, name, title, phone, reason, \
             filed_at, decided_by, decided_at, decision_reason, result FROM requests ",
            $rest
        )
    };
}

pub(super) async fn file_request(shared: &Shared, new: NewRequest) -> Result<Request> {
    let mut conn = shared.write.lock().await;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO requests (kind, status, requested_by, unit_id, mailbox, name, title, phone, \
         reason, filed_at) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.kind.as_str())
    .bind(new.requested_by.trim().to_lowercase())
    .bind(new.unit)
    .bind(new.mailbox.trim().to_lowercase())
    .bind(&new.name)
    .bind(&new.title)
    .bind(&new.phone)
    .bind(&new.reason)
    .bind(new.filed_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| foreign_key_or_db(e, "unit"))?;
    drop(conn);
    request_by_id(&shared.read, id)
        .await?
        .ok_or_else(|| StoreError::Unavailable(format!("request {id} vanished after filing")))
}

pub(super) async fn request_by_id(read: &SqlitePool, id: RequestId) -> Result<Option<Request>> {
    let row = sqlx::query(select_requests!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(request_from_row).transpose()
}

pub(super) async fn list_requests(
    read: &SqlitePool,
    status: Option<RequestStatus>,
) -> Result<Vec<Request>> {
    let status = status.map(RequestStatus::as_str);
    let rows = sqlx::query(select_requests!(
        "WHERE ? IS NULL OR status = ? ORDER BY id"
    ))
    .bind(status)
    .bind(status)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(request_from_row).collect()
}

pub(super) async fn decide_request(
    shared: &Shared,
    id: RequestId,
    from: RequestStatus,
    d: RequestDecision,
) -> Result<Request> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query(
        "UPDATE requests SET status = ?, decided_by = COALESCE(decided_by, ?), \
         decided_at = COALESCE(decided_at, ?), decision_reason = ?, result = ? \
         WHERE id = ? AND status = ?",
    )
    .bind(d.status.as_str())
    .bind(d.by.trim().to_lowercase())
    .bind(d.at)
    .bind(&d.reason)
    .bind(&d.result)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    drop(conn);
    let now = request_by_id(&shared.read, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("request {id}")))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Invalid(format!(
            "request {id} is {}, not {}",
            now.status.as_str(),
            from.as_str()
        )));
    }
    Ok(now)
}

fn request_from_row(row: &SqliteRow) -> Result<Request> {
    let corrupt = |what: &str| StoreError::Unavailable(format!("database corrupted: {what}"));
    let kind: String = row.try_get(1).map_err(db)?;
    let status: String = row.try_get(2).map_err(db)?;
    Ok(Request {
        id: row.try_get(0).map_err(db)?,
        kind: RequestKind::from_token(&kind).ok_or_else(|| corrupt("request kind"))?,
        status: RequestStatus::from_token(&status).ok_or_else(|| corrupt("request status"))?,
        requested_by: row.try_get(3).map_err(db)?,
        unit: row.try_get(4).map_err(db)?,
        mailbox: row.try_get(5).map_err(db)?,
        name: row.try_get(6).map_err(db)?,
        title: row.try_get(7).map_err(db)?,
        phone: row.try_get(8).map_err(db)?,
        reason: row.try_get(9).map_err(db)?,
        filed_at: row.try_get(10).map_err(db)?,
        decided_by: row.try_get(11).map_err(db)?,
        decided_at: row.try_get(12).map_err(db)?,
        decision_reason: row.try_get(13).map_err(db)?,
        result: row.try_get(14).map_err(db)?,
    })
}
