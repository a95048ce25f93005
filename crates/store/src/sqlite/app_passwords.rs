//! Per-device app passwords (migration 0007): only Argon2id hashes, one row per label.
//!
//! Keeps true: a label is unique within its mailbox (the table's UNIQUE constraint, so two
//! concurrent adds cannot both win); an unknown account is `NotFound` through the foreign key.

use super::Shared;
use super::account_details::foreign_key_or_db;
use super::rows::{self, db};
use crate::{AccountId, AppPassword, AppPasswordId, NewAppPassword, Result, StoreError};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

fn from_row(row: &SqliteRow) -> Result<AppPassword> {
    Ok(AppPassword {
        id: row.try_get(0).map_err(db)?,
        account: row.try_get(1).map_err(db)?,
        label: row.try_get(2).map_err(db)?,
        password_hash: row.try_get(3).map_err(db)?,
        created_at: row.try_get(4).map_err(db)?,
        last_used_at: row.try_get(5).map_err(db)?,
    })
}

pub(super) async fn add_app_password(shared: &Shared, new: NewAppPassword) -> Result<AppPassword> {
    let label = new.label.trim();
    if label.is_empty() {
        return Err(StoreError::Invalid(
            "an app password needs a label naming the device".to_string(),
        ));
    }
    let mut conn = shared.write.lock().await;
    let row = sqlx::query(
        "INSERT INTO app_passwords (account_id, label, password_hash, created_at) \
         VALUES (?, ?, ?, ?) \
         RETURNING id, account_id, label, password_hash, created_at, last_used_at",
    )
    .bind(new.account)
    .bind(label)
    .bind(&new.password_hash)
    .bind(new.created_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if rows::is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("app password {label:?}"))
        } else {
            foreign_key_or_db(e, "account")
        }
    })?;
    from_row(&row)
}

pub(super) async fn app_passwords(
    read: &SqlitePool,
    account: AccountId,
) -> Result<Vec<AppPassword>> {
    let rows = sqlx::query(
        "SELECT id, account_id, label, password_hash, created_at, last_used_at \
         FROM app_passwords WHERE account_id = ? ORDER BY label",
    )
    .bind(account)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(from_row).collect()
}

pub(super) async fn revoke_app_password(
    shared: &Shared,
    account: AccountId,
    label: &str,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("DELETE FROM app_passwords WHERE account_id = ? AND label = ?")
        .bind(account)
        .bind(label.trim())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("app password {label:?}")));
    }
    Ok(())
}

pub(super) async fn touch_app_password(shared: &Shared, id: AppPasswordId, at: i64) -> Result<()> {
    let mut conn = shared.write.lock().await;
    sqlx::query("UPDATE app_passwords SET last_used_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn record_expiry_warning(
    shared: &Shared,
    account: AccountId,
    password_changed_at: i64,
    days: u32,
    at: i64,
) -> Result<bool> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query(
        "INSERT OR IGNORE INTO password_expiry_warnings \
         (account_id, password_changed_at, days, sent_at) VALUES (?, ?, ?, ?)",
    )
    .bind(account)
    .bind(password_changed_at)
    .bind(i64::from(days))
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(|e| foreign_key_or_db(e, "account"))?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn expiry_warning_sent(
    read: &SqlitePool,
    account: AccountId,
    password_changed_at: i64,
    days: u32,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM password_expiry_warnings \
         WHERE account_id = ? AND password_changed_at = ? AND days = ?",
    )
    .bind(account)
    .bind(password_changed_at)
    .bind(i64::from(days))
    .fetch_optional(read)
    .await
    .map_err(db)?;
    Ok(row.is_some())
}
