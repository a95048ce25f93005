//! Accounts: creation with the default folders (one transaction), look-ups, password and
//! lifecycle state changes.
//!
//! Invariant: addresses are stored and looked up lowercased, so one mailbox never has two
//! accounts differing only by case.

use super::Shared;
use super::account_details::insert_account;
use super::rows::{account_from_row, db, select_accounts};
use crate::{Account, AccountId, AccountState, NewAccount, Result, StoreError};
use sqlx::Connection;
use sqlx::sqlite::SqlitePool;

pub(super) async fn create_account(shared: &Shared, new: NewAccount) -> Result<Account> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let account = insert_account(&mut tx, &new).await?;
    tx.commit().await.map_err(db)?;
    Ok(account)
}

pub(super) async fn account_by_address(
    read: &SqlitePool,
    address: &str,
) -> Result<Option<Account>> {
    let address = address.trim().to_lowercase();
    let row = sqlx::query(select_accounts!("WHERE address = ?"))
        .bind(&address)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(account_from_row).transpose()
}

pub(super) async fn account_by_id(read: &SqlitePool, id: AccountId) -> Result<Option<Account>> {
    let row = sqlx::query(select_accounts!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(account_from_row).transpose()
}

pub(super) async fn list_accounts(read: &SqlitePool) -> Result<Vec<Account>> {
    let rows = sqlx::query(select_accounts!("ORDER BY id"))
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(account_from_row).collect()
}

pub(super) async fn set_password_hash(shared: &Shared, id: AccountId, hash: &str) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("UPDATE accounts SET password_hash = ? WHERE id = ?")
        .bind(hash)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    found(done.rows_affected(), id)
}

pub(super) async fn set_account_state(
    shared: &Shared,
    id: AccountId,
    state: AccountState,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("UPDATE accounts SET state = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    found(done.rows_affected(), id)
}

fn found(rows_affected: u64, id: AccountId) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(format!("account {id}")))
    } else {
        Ok(())
    }
}
