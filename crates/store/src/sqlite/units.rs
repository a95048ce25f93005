//! Units (đơn vị, R-ACC-1) and their IT contacts (R-ACC-6).
//!
//! Keeps true: a unit and its unit mailbox are created in one transaction (never a unit
//! pointing at a missing mailbox, nor a unit mailbox without its unit); a parent must exist
//! when its child is created, so the stored tree has no cycles.

use super::Shared;
use super::account_details::{foreign_key_or_db, insert_account, write_details};
use super::rows::db;
use crate::{AccountId, Result, StoreError, Unit, UnitId};
use congvu_core::naming::UnitKind;
use congvu_core::unit::kind_token;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row};

/// The columns `unit_from_row` reads, in a `SELECT … FROM units`.
macro_rules! select_units {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, kind, parent_id, account_id, created_at FROM units ",
            $rest
        )
    };
}

pub(super) async fn create_unit(shared: &Shared, new: crate::NewUnit) -> Result<Unit> {
    if new.name.trim().is_empty() {
        return Err(StoreError::Invalid("a unit needs a name".into()));
    }
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    if let Some(parent) = new.parent {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM units WHERE id = ?")
            .bind(parent)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("unit {parent}")));
        }
    }
    let account = match &new.mailbox {
        Some(mailbox) => Some(insert_account(&mut tx, mailbox).await?),
        None => None,
    };
    let row = sqlx::query(
        "INSERT INTO units (name, kind, parent_id, account_id, created_at) VALUES (?, ?, ?, ?, ?) \
         RETURNING id, name, kind, parent_id, account_id, created_at",
    )
    .bind(new.name.trim())
    .bind(kind_token(new.kind))
    .bind(new.parent)
    .bind(account.as_ref().map(|a| a.id))
    .bind(new.created_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let unit = unit_from_row(&row)?;
    if let Some(account) = &account {
        let mut details = new.mailbox_details.clone();
        details.unit = Some(unit.id);
        write_details(&mut tx, account.id, &details).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(unit)
}

pub(super) async fn unit_by_id(read: &SqlitePool, id: UnitId) -> Result<Option<Unit>> {
    let row = sqlx::query(select_units!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(unit_from_row).transpose()
}

pub(super) async fn unit_by_account(read: &SqlitePool, account: AccountId) -> Result<Option<Unit>> {
    let row = sqlx::query(select_units!("WHERE account_id = ?"))
        .bind(account)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(unit_from_row).transpose()
}

pub(super) async fn list_units(read: &SqlitePool) -> Result<Vec<Unit>> {
    let rows = sqlx::query(select_units!("ORDER BY id"))
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(unit_from_row).collect()
}

pub(super) async fn add_unit_contact(
    shared: &Shared,
    unit: UnitId,
    account: AccountId,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    sqlx::query("INSERT OR IGNORE INTO unit_contacts (unit_id, account_id) VALUES (?, ?)")
        .bind(unit)
        .bind(account)
        .execute(&mut *conn)
        .await
        .map_err(|e| foreign_key_or_db(e, &format!("unit {unit} or account {account}")))?;
    Ok(())
}

pub(super) async fn contact_units(read: &SqlitePool, account: AccountId) -> Result<Vec<UnitId>> {
    sqlx::query_scalar("SELECT unit_id FROM unit_contacts WHERE account_id = ? ORDER BY unit_id")
        .bind(account)
        .fetch_all(read)
        .await
        .map_err(db)
}

fn unit_from_row(row: &SqliteRow) -> Result<Unit> {
    let kind: String = row.try_get(2).map_err(db)?;
    Ok(Unit {
        id: row.try_get(0).map_err(db)?,
        name: row.try_get(1).map_err(db)?,
        kind: UnitKind::from_token(&kind)
            .ok_or_else(|| StoreError::Unavailable("database corrupted: unit kind".into()))?,
        parent: row.try_get(3).map_err(db)?,
        account: row.try_get(4).map_err(db)?,
        created_at: row.try_get(5).map_err(db)?,
    })
}
