//! Forwarding targets of a mailbox (migration 0011). The store keeps addresses; the policy
//! (R-POL-6, `core::forwarding`) is the caller's, at setting time and at delivery.

use super::Shared;
use super::rows::{db, is_unique_violation};
use crate::{AccountId, Result, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

pub(super) async fn list(read: &SqlitePool, account: AccountId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT address FROM forwards WHERE account_id = ? ORDER BY address")
        .bind(account)
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(|row| row.try_get(0).map_err(db)).collect()
}

pub(super) async fn add(shared: &Shared, account: AccountId, address: &str, at: i64) -> Result<()> {
    let address = address.trim().to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return Err(StoreError::Invalid(format!(
            "forwarding target `{address}` is not an address"
        )));
    }
    let mut conn = shared.write.lock().await;
    let exists = sqlx::query("SELECT 1 FROM accounts WHERE id = ?")
        .bind(account)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("account {account}")));
    }
    sqlx::query("INSERT INTO forwards (account_id, address, created_at) VALUES (?, ?, ?)")
        .bind(account)
        .bind(&address)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists(format!("forwarding to {address}"))
            } else {
                db(e)
            }
        })?;
    Ok(())
}

pub(super) async fn remove(shared: &Shared, account: AccountId, address: &str) -> Result<()> {
    let address = address.trim().to_lowercase();
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("DELETE FROM forwards WHERE account_id = ? AND address = ?")
        .bind(account)
        .bind(&address)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("forwarding to {address}")));
    }
    Ok(())
}
