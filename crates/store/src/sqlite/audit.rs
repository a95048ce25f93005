//! The audit log (R-POL-10): append and read, nothing else.
//!
//! Keeps true: an entry is chained to the newest entry inside the same write transaction
//! (through the single writer), so the chain never forks; its id is chosen before hashing, so
//! the hash covers it. Updates and deletes are refused by triggers (migration 0005) as well
//! as absent from the API.

use super::Shared;
use super::rows::db;
use crate::audit_chain::{GENESIS, entry_hash};
use crate::{AuditEntry, NewAuditEntry, Result};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row};

pub(super) async fn append_audit(shared: &Shared, entry: NewAuditEntry) -> Result<AuditEntry> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let (id, prev_hash) = match last {
        Some((id, hash)) => (id + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(&prev_hash, id, &entry);
    sqlx::query(
        "INSERT INTO audit (id, at, actor, role, action, target, requested_by, approved_by, \
         source_ip, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.role)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.requested_by)
    .bind(&entry.approved_by)
    .bind(&entry.source_ip)
    .bind(&entry.detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(AuditEntry {
        id,
        entry,
        prev_hash,
        hash,
    })
}

pub(super) async fn list_audit(read: &SqlitePool) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, at, actor, role, action, target, requested_by, approved_by, source_ip, \
         detail, prev_hash, hash FROM audit ORDER BY id",
    )
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(audit_from_row).collect()
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditEntry> {
    let s = |i: usize| -> Result<String> { row.try_get(i).map_err(db) };
    Ok(AuditEntry {
        id: row.try_get(0).map_err(db)?,
        entry: NewAuditEntry {
            at: row.try_get(1).map_err(db)?,
            actor: s(2)?,
            role: s(3)?,
            action: s(4)?,
            target: s(5)?,
            requested_by: s(6)?,
            approved_by: s(7)?,
            source_ip: s(8)?,
            detail: s(9)?,
        },
        prev_hash: s(10)?,
        hash: s(11)?,
    })
}
