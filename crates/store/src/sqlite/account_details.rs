//! Mailbox details (unit, title, phone), lifecycle state changes with their history, and
//! password changes with the history the no-reuse rule needs (R-ACC-5, R-POL-1, R-POL-2).
//!
//! Keeps true:
//! - A state change is a compare-and-set: it applies only if the account is still in the state
//!   the caller saw, and its history row is written in the same transaction.
//! - A password change moves the old hash into `password_history` and trims it to the newest
//!   `keep_history` rows, in one transaction: the history never holds more than asked.
//! - Addresses are stored lowercased, as in `accounts.rs`.

use super::rows::{self, account_from_row, db};
use super::{Shared, folders};
use crate::{
    Account, AccountDetails, AccountId, AccountState, NewAccount, PasswordChange, Result,
    StateChange, StoreError,
};
use congvu_core::SpecialUse;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Connection, Row};

/// Inserts an account and its special-use folders inside the caller's transaction.
pub(super) async fn insert_account(
    conn: &mut SqliteConnection,
    new: &NewAccount,
) -> Result<Account> {
    let address = new.address.trim().to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return Err(StoreError::Invalid(format!(
            "not a mailbox address: {:?}",
            new.address
        )));
    }
    let row = sqlx::query(
        "INSERT INTO accounts (address, display_name, password_hash, kind, state, created_at) \
         VALUES (?, ?, ?, ?, 'active', ?) \
         RETURNING id, address, display_name, password_hash, kind, state, created_at, purged_at",
    )
    .bind(&address)
    .bind(&new.display_name)
    .bind(&new.password_hash)
    .bind(new.kind.as_str())
    .bind(new.created_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if rows::is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("account {address}"))
        } else {
            db(e)
        }
    })?;
    let account = account_from_row(&row)?;
    for special in SpecialUse::DEFAULT_SET {
        folders::insert_folder(conn, account.id, special.default_name(), Some(special)).await?;
    }
    Ok(account)
}

/// Writes the details of an account inside the caller's transaction.
pub(super) async fn write_details(
    conn: &mut SqliteConnection,
    id: AccountId,
    d: &AccountDetails,
) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET unit_id = ?, title = ?, phone = ?, must_change_password = ?, \
         password_changed_at = ? WHERE id = ?",
    )
    .bind(d.unit)
    .bind(&d.title)
    .bind(&d.phone)
    .bind(d.must_change_password)
    .bind(d.password_changed_at)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| foreign_key_or_db(e, "unit"))?;
    Ok(())
}

pub(super) fn foreign_key_or_db(e: sqlx::Error, what: &str) -> StoreError {
    if e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
    {
        StoreError::NotFound(what.to_string())
    } else {
        db(e)
    }
}

pub(super) async fn create_account_with_details(
    shared: &Shared,
    new: NewAccount,
    details: AccountDetails,
) -> Result<Account> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let account = insert_account(&mut tx, &new).await?;
    write_details(&mut tx, account.id, &details).await?;
    tx.commit().await.map_err(db)?;
    Ok(account)
}

pub(super) async fn account_details(
    read: &SqlitePool,
    id: AccountId,
) -> Result<Option<AccountDetails>> {
    let row = sqlx::query(
        "SELECT unit_id, title, phone, must_change_password, \
         COALESCE(password_changed_at, created_at), state_changed_at FROM accounts WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(read)
    .await
    .map_err(db)?;
    row.as_ref().map(details_from_row).transpose()
}

fn details_from_row(row: &SqliteRow) -> Result<AccountDetails> {
    Ok(AccountDetails {
        unit: row.try_get(0).map_err(db)?,
        title: row.try_get(1).map_err(db)?,
        phone: row.try_get(2).map_err(db)?,
        must_change_password: row.try_get(3).map_err(db)?,
        password_changed_at: row.try_get(4).map_err(db)?,
        state_changed_at: row.try_get(5).map_err(db)?,
    })
}

pub(super) async fn update_account_details(
    shared: &Shared,
    id: AccountId,
    display_name: &str,
    d: &AccountDetails,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query(
        "UPDATE accounts SET display_name = ?, unit_id = ?, title = ?, phone = ? WHERE id = ?",
    )
    .bind(display_name)
    .bind(d.unit)
    .bind(&d.title)
    .bind(&d.phone)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| foreign_key_or_db(e, "unit"))?;
    found(done.rows_affected(), id)
}

pub(super) async fn change_account_state(
    shared: &Shared,
    id: AccountId,
    change: StateChange,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let done = sqlx::query(
        "UPDATE accounts SET state = ?, state_changed_at = ? WHERE id = ? AND state = ?",
    )
    .bind(change.to.as_str())
    .bind(change.at)
    .bind(id)
    .bind(change.from.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query("SELECT state FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        return Err(match exists {
            None => StoreError::NotFound(format!("account {id}")),
            Some(row) => {
                let now: String = row.try_get(0).map_err(db)?;
                StoreError::Invalid(format!(
                    "account {id} is {now}, not {} any more",
                    change.from.as_str()
                ))
            }
        });
    }
    sqlx::query(
        "INSERT INTO account_state_history (account_id, from_state, to_state, at, reason) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(change.from.as_str())
    .bind(change.to.as_str())
    .bind(change.at)
    .bind(&change.reason)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

pub(super) async fn state_history(read: &SqlitePool, id: AccountId) -> Result<Vec<StateChange>> {
    let rows = sqlx::query(
        "SELECT from_state, to_state, at, reason FROM account_state_history \
         WHERE account_id = ? ORDER BY id",
    )
    .bind(id)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            let state = |i: usize| -> Result<AccountState> {
                let s: String = row.try_get(i).map_err(db)?;
                AccountState::from_token(&s).ok_or_else(|| {
                    StoreError::Unavailable("database corrupted: account state".into())
                })
            };
            Ok(StateChange {
                from: state(0)?,
                to: state(1)?,
                at: row.try_get(2).map_err(db)?,
                reason: row.try_get(3).map_err(db)?,
            })
        })
        .collect()
}

pub(super) async fn change_password(
    shared: &Shared,
    id: AccountId,
    change: PasswordChange,
) -> Result<()> {
    let keep = i64::try_from(change.keep_history).unwrap_or(i64::MAX);
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let old: Option<String> = sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(old) = old else {
        return Err(StoreError::NotFound(format!("account {id}")));
    };
    sqlx::query(
        "INSERT INTO password_history (account_id, password_hash, replaced_at) VALUES (?, ?, ?)",
    )
    .bind(id)
    .bind(&old)
    .bind(change.at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "DELETE FROM password_history WHERE account_id = ? AND id NOT IN \
         (SELECT id FROM password_history WHERE account_id = ? ORDER BY id DESC LIMIT ?)",
    )
    .bind(id)
    .bind(id)
    .bind(keep)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "UPDATE accounts SET password_hash = ?, password_changed_at = ?, must_change_password = ? \
         WHERE id = ?",
    )
    .bind(&change.hash)
    .bind(change.at)
    .bind(change.must_change)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

pub(super) async fn password_history(read: &SqlitePool, id: AccountId) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT password_hash FROM password_history WHERE account_id = ? ORDER BY id DESC",
    )
    .bind(id)
    .fetch_all(read)
    .await
    .map_err(db)
}

fn found(rows_affected: u64, id: AccountId) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(format!("account {id}")))
    } else {
        Ok(())
    }
}
