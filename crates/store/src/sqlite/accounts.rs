//! Accounts: creation with the default folders (one transaction), look-ups, password and
//! lifecycle state changes.
//!
//! Invariant: addresses are stored and looked up lowercased, so one mailbox never has two
//! accounts differing only by case.

use super::Shared;
use super::account_details::insert_account;
use super::rows::{account_from_row, db, select_accounts};
use crate::{Account, AccountId, AccountState, NewAccount, PurgedAccount, Result, StoreError};
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

/// Tables whose rows about a mailbox outlive its purge: the row itself (the tombstone), its
/// state history (R-ACC-5, the record of what happened), the units it is the mailbox of and
/// the requests that concern it.
const KEPT_AFTER_PURGE: [&str; 4] = ["accounts", "account_state_history", "units", "requests"];

pub(super) async fn purge_account(
    shared: &Shared,
    id: AccountId,
    at: i64,
    reason: &str,
) -> Result<PurgedAccount> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let state: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT state, purged_at FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    match state {
        None => return Err(StoreError::NotFound(format!("account {id}"))),
        Some((_, Some(_))) => {
            return Err(StoreError::Invalid(format!(
                "account {id} is purged already"
            )));
        }
        Some((state, None)) if state != AccountState::Revoked.as_str() => {
            return Err(StoreError::Invalid(format!(
                "account {id} is {state}: only a revoked mailbox can be purged"
            )));
        }
        Some(_) => {}
    }
    let (folders, messages): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM folders WHERE account_id = ?1), \
                (SELECT COUNT(*) FROM mailbox_entries e JOIN folders f ON f.id = e.folder_id \
                 WHERE f.account_id = ?1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    // Every other table with an `account_id` column holds something of the mailbox's own
    // (folders and, through them, entries and \Seen states; passwords, scripts, sessions,
    // forwards, training): it goes. Reading the schema rather than listing tables here means
    // a table added later is covered without anybody remembering this function.
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT m.name FROM sqlite_master m \
         WHERE m.type = 'table' \
           AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'account_id')",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    for (table,) in tables {
        if KEPT_AFTER_PURGE.contains(&table.as_str()) {
            continue;
        }
        // The name comes from the schema, not from input; quoted all the same.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM \"{}\" WHERE account_id = ?",
            table.replace('"', "\"\"")
        )))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    sqlx::query("DELETE FROM grants WHERE mailbox_id = ?1 OR grantee_id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // No password hash verifies against "!": nobody can log in as the tombstone.
    sqlx::query(
        "UPDATE accounts SET purged_at = ?, state_changed_at = ?, password_hash = '!', \
         title = '', phone = '' WHERE id = ?",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO account_state_history (account_id, from_state, to_state, at, reason) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(AccountState::Revoked.as_str())
    .bind(AccountState::Purged.as_str())
    .bind(at)
    .bind(reason)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    // The purged folders' ids may go to new folders: no view of theirs may outlive them.
    shared.views.clear();
    Ok(PurgedAccount {
        folders: folders as u64,
        messages: messages as u64,
    })
}
