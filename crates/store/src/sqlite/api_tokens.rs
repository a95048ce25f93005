//! Sessions and API tokens of the JSON API (migration 0008).
//!
//! Keeps true: only the hash of a secret is stored and looked up (the table's UNIQUE hash);
//! an expired credential is never returned, and expired sessions are deleted whenever a new
//! credential is made, so the table does not grow with every login.

use super::Shared;
use super::account_details::foreign_key_or_db;
use super::rows::{self, db};
use crate::{
    AccountId, ApiCredential, ApiCredentialId, ApiCredentialKind, NewApiCredential, Result,
    StoreError,
};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

/// `last_used_at` is written at most this often, so a busy script does not turn every read
/// request into a write.
const TOUCH_EVERY_SECS: i64 = 60;

macro_rules! select_credentials {
    ($rest:literal) => {
        concat!(
            "SELECT id, token_hash, account_id, kind, label, restricted, created_at, expires_at, \
             last_used_at FROM api_credentials ",
            $rest
        )
    };
}

fn from_row(row: &SqliteRow) -> Result<ApiCredential> {
    let kind: String = row.try_get(3).map_err(db)?;
    Ok(ApiCredential {
        id: row.try_get(0).map_err(db)?,
        token_hash: row.try_get(1).map_err(db)?,
        account: row.try_get(2).map_err(db)?,
        kind: ApiCredentialKind::from_token(&kind).ok_or_else(|| {
            StoreError::Unavailable(format!("database corrupted: api credential kind {kind:?}"))
        })?,
        label: row.try_get(4).map_err(db)?,
        restricted: row.try_get(5).map_err(db)?,
        created_at: row.try_get(6).map_err(db)?,
        expires_at: row.try_get(7).map_err(db)?,
        last_used_at: row.try_get(8).map_err(db)?,
    })
}

pub(super) async fn create(shared: &Shared, new: NewApiCredential) -> Result<ApiCredential> {
    if new.token_hash.is_empty() {
        return Err(StoreError::Invalid("a credential needs a hash".into()));
    }
    let mut conn = shared.write.lock().await;
    sqlx::query(
        "DELETE FROM api_credentials WHERE kind = 'session' AND expires_at IS NOT NULL \
         AND expires_at <= ?",
    )
    .bind(new.created_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let row = sqlx::query(
        "INSERT INTO api_credentials (token_hash, account_id, kind, label, restricted, \
         created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, token_hash, \
         account_id, kind, label, restricted, created_at, expires_at, last_used_at",
    )
    .bind(&new.token_hash)
    .bind(new.account)
    .bind(new.kind.as_str())
    .bind(&new.label)
    .bind(&new.restricted)
    .bind(new.created_at)
    .bind(new.expires_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if rows::is_unique_violation(&e) {
            StoreError::AlreadyExists("api credential".into())
        } else {
            foreign_key_or_db(e, &format!("account {}", new.account))
        }
    })?;
    from_row(&row)
}

pub(super) async fn use_credential(
    shared: &Shared,
    token_hash: &str,
    now: i64,
) -> Result<Option<ApiCredential>> {
    let row = sqlx::query(select_credentials!(
        "WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&shared.read)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut credential = from_row(&row)?;
    if credential
        .last_used_at
        .is_none_or(|at| at + TOUCH_EVERY_SECS <= now)
    {
        let mut conn = shared.write.lock().await;
        sqlx::query("UPDATE api_credentials SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(credential.id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        credential.last_used_at = Some(now);
    }
    Ok(Some(credential))
}

pub(super) async fn list(
    read: &SqlitePool,
    kind: ApiCredentialKind,
    account: Option<AccountId>,
) -> Result<Vec<ApiCredential>> {
    let rows = sqlx::query(select_credentials!(
        "WHERE kind = ? AND (? IS NULL OR account_id = ?) ORDER BY id"
    ))
    .bind(kind.as_str())
    .bind(account)
    .bind(account)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(from_row).collect()
}

pub(super) async fn revoke(shared: &Shared, id: ApiCredentialId) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("DELETE FROM api_credentials WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("api credential {id}")));
    }
    Ok(())
}

pub(super) async fn delete_by_hash(shared: &Shared, token_hash: &str) -> Result<bool> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("DELETE FROM api_credentials WHERE token_hash = ?")
        .bind(token_hash)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}
