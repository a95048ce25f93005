//! The directory's view of the mailboxes (R-ACC-4): one query that joins what
//! `list_accounts` and `account_details` give one account at a time, so that an LDAP search
//! over 5,000 mailboxes costs one read, not 5,000.
//!
//! Keeps true: revoked mailboxes and password material never leave this query (the SELECT
//! names neither `password_hash` nor revoked rows).

use super::rows::db;
use crate::{AccountKind, AccountState, DirectoryRow, Result, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

pub(super) async fn directory_rows(read: &SqlitePool) -> Result<Vec<DirectoryRow>> {
    let rows = sqlx::query(
        "SELECT id, address, display_name, kind, state, unit_id, title, phone FROM accounts \
         WHERE state <> 'revoked' ORDER BY id",
    )
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(3).map_err(db)?;
            let state: String = row.try_get(4).map_err(db)?;
            Ok(DirectoryRow {
                account: row.try_get(0).map_err(db)?,
                address: row.try_get(1).map_err(db)?,
                display_name: row.try_get(2).map_err(db)?,
                kind: AccountKind::from_token(&kind).ok_or_else(|| {
                    StoreError::Unavailable(format!("database corrupted: account kind {kind:?}"))
                })?,
                state: AccountState::from_token(&state).ok_or_else(|| {
                    StoreError::Unavailable(format!("database corrupted: account state {state:?}"))
                })?,
                unit: row.try_get(5).map_err(db)?,
                title: row.try_get(6).map_err(db)?,
                phone: row.try_get(7).map_err(db)?,
            })
        })
        .collect()
}
