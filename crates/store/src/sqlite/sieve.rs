//! Sieve scripts and the vacation reply memory (migration 0010).
//!
//! Keeps true: at most one active script per mailbox (a partial unique index backs this
//! up); activating is one transaction, so there is never a moment with two active scripts
//! or, when switching, none; an active script cannot be deleted (RFC 5804 §2.10).

use super::Shared;
use super::rows::db;
use crate::{AccountId, Result, SieveScriptInfo, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

pub(super) async fn list(read: &SqlitePool, account: AccountId) -> Result<Vec<SieveScriptInfo>> {
    let rows = sqlx::query(
        "SELECT name, active, length(content), updated_at FROM sieve_scripts \
         WHERE account_id = ? ORDER BY name",
    )
    .bind(account)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(SieveScriptInfo {
                name: row.try_get(0).map_err(db)?,
                active: row.try_get::<i64, _>(1).map_err(db)? != 0,
                size: row.try_get::<i64, _>(2).map_err(db)?.max(0) as u64,
                updated_at: row.try_get(3).map_err(db)?,
            })
        })
        .collect()
}

pub(super) async fn get(
    read: &SqlitePool,
    account: AccountId,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT content FROM sieve_scripts WHERE account_id = ? AND name = ?")
        .bind(account)
        .bind(name)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.map(|r| r.try_get(0).map_err(db)).transpose()
}

pub(super) async fn active(
    read: &SqlitePool,
    account: AccountId,
) -> Result<Option<(String, Vec<u8>)>> {
    let row =
        sqlx::query("SELECT name, content FROM sieve_scripts WHERE account_id = ? AND active = 1")
            .bind(account)
            .fetch_optional(read)
            .await
            .map_err(db)?;
    row.map(|r| Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)))
        .transpose()
}

pub(super) async fn put(
    shared: &Shared,
    account: AccountId,
    name: &str,
    content: &[u8],
    now: i64,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    sqlx::query(
        "INSERT INTO sieve_scripts (account_id, name, content, active, updated_at) \
         VALUES (?, ?, ?, 0, ?) \
         ON CONFLICT (account_id, name) DO UPDATE SET content = excluded.content, \
         updated_at = excluded.updated_at",
    )
    .bind(account)
    .bind(name)
    .bind(content)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn delete(shared: &Shared, account: AccountId, name: &str) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let row = sqlx::query("SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?")
        .bind(account)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    match row {
        None => Err(StoreError::NotFound(format!("script \"{name}\""))),
        Some(r) if r.try_get::<i64, _>(0).map_err(db)? != 0 => Err(StoreError::Invalid(format!(
            "script \"{name}\" is active; deactivate it first"
        ))),
        Some(_) => {
            sqlx::query("DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?")
                .bind(account)
                .bind(name)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            Ok(())
        }
    }
}

pub(super) async fn rename(
    shared: &Shared,
    account: AccountId,
    from: &str,
    to: &str,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let taken = sqlx::query("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?")
        .bind(account)
        .bind(to)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if taken.is_some() {
        return Err(StoreError::AlreadyExists(format!("script \"{to}\"")));
    }
    let done = sqlx::query("UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?")
        .bind(to)
        .bind(account)
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("script \"{from}\"")));
    }
    Ok(())
}

/// Makes `name` the active script, or deactivates all with `None` (RFC 5804 §2.8).
pub(super) async fn set_active(
    shared: &Shared,
    account: AccountId,
    name: Option<&str>,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
    if let Some(name) = name {
        let exists = sqlx::query("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?")
            .bind(account)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("script \"{name}\"")));
        }
    }
    sqlx::query("UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active = 1")
        .bind(account)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if let Some(name) = name {
        sqlx::query("UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?")
            .bind(account)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(())
}

/// Records a vacation reply to `sender` under `handle` unless one was sent less than
/// `period` seconds before `now`; true when the caller should send it (RFC 5230 §4.2).
pub(super) async fn claim_vacation_reply(
    shared: &Shared,
    account: AccountId,
    handle: &str,
    sender: &str,
    now: i64,
    period: i64,
) -> Result<bool> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query(
        "INSERT INTO vacation_replies (account_id, handle, sender, sent_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (account_id, handle, sender) DO UPDATE SET sent_at = excluded.sent_at \
         WHERE vacation_replies.sent_at <= ?",
    )
    .bind(account)
    .bind(handle)
    .bind(sender.to_ascii_lowercase())
    .bind(now)
    .bind(now.saturating_sub(period))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() > 0)
}
