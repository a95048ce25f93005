//! COPY (RFC 9051 §6.4.7, with RFC 4315 COPYUID), MOVE (RFC 6851) and EXPUNGE
//! (RFC 9051 §6.4.3, UID EXPUNGE of RFC 4315 §2.1).
//!
//! What this keeps true:
//! - Copies keep the flags and INTERNALDATE of the source (RFC 9051 §6.4.7) and get new UIDs
//!   in the destination, assigned in ascending source-UID order; the message row and blob are
//!   shared, never duplicated.
//! - MOVE is one transaction: nothing is visible half-moved.
//! - Every removed UID is written to `expunged` with the MODSEQ of its removal, so
//!   `changes_since` can report it (RFC 7162 §3.2.5 VANISHED).
//! - EXPUNGE is committed by the mailbox writer (`deliver.rs`) with the other writes queued
//!   beside it (one fsync); COPY and MOVE take the write connection themselves.

use super::Shared;
use super::rows::{self, allocate, db, folder_owner};
use crate::{CopyResult, FolderChange, FolderId, ModSeq, Result, Uid};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

pub(super) async fn copy_messages(
    shared: &Shared,
    from: FolderId,
    uids: &[Uid],
    to: FolderId,
    remove_source: bool,
) -> Result<CopyResult> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let (from_account, _) = folder_owner(&mut tx, from).await?;
    let (to_account, uidvalidity) = folder_owner(&mut tx, to).await?;
    let rows = sqlx::query(
        "SELECT uid, flags, keywords, internal_date, size, message_hash FROM mailbox_entries \
         WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
    )
    .bind(from)
    .bind(rows::uid_set(uids))
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    if rows.is_empty() {
        let highest_modseq = highest_modseq(&mut tx, to).await?;
        tx.commit().await.map_err(db)?;
        return Ok(CopyResult {
            uidvalidity,
            pairs: Vec::new(),
            highest_modseq,
        });
    }

    let count = u32::try_from(rows.len())
        .map_err(|_| crate::StoreError::Invalid("too many messages".into()))?;
    let (first, to_modseq) = allocate(&mut tx, to, count).await?;
    let mut pairs = Vec::with_capacity(rows.len());
    for (row, new_uid) in rows.iter().zip(first..) {
        let old_uid: i64 = row.try_get(0).map_err(db)?;
        sqlx::query(
            "INSERT INTO mailbox_entries (folder_id, uid, modseq, flags, keywords, internal_date, size, message_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to)
        .bind(i64::from(new_uid))
        .bind(rows::modseq_param(to_modseq))
        .bind(row.try_get::<i64, _>(1).map_err(db)?)
        .bind(row.try_get::<String, _>(2).map_err(db)?)
        .bind(row.try_get::<i64, _>(3).map_err(db)?)
        .bind(row.try_get::<i64, _>(4).map_err(db)?)
        .bind(row.try_get::<String, _>(5).map_err(db)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        pairs.push((rows::to_uid(old_uid)?, new_uid));
    }
    let mut notices = vec![FolderChange {
        account: to_account,
        folder: to,
        modseq: to_modseq,
    }];
    if remove_source {
        let moved: Vec<Uid> = pairs.iter().map(|(old, _)| *old).collect();
        let from_modseq = remove_entries(&mut tx, from, &moved).await?;
        notices.push(FolderChange {
            account: from_account,
            folder: from,
            modseq: from_modseq,
        });
    }
    // A move within one folder: the destination's highest MODSEQ is now the removal's.
    let highest_modseq = highest_modseq(&mut tx, to).await?;
    tx.commit().await.map_err(db)?;
    drop(conn);
    shared.notify(notices);
    Ok(CopyResult {
        uidvalidity,
        pairs,
        highest_modseq,
    })
}

/// Applies an EXPUNGE inside the mailbox writer's transaction (`deliver.rs`): the UIDs
/// removed, and the notice to send once committed.
pub(super) async fn apply_expunge(
    conn: &mut SqliteConnection,
    folder: FolderId,
    uids: Option<&[Uid]>,
) -> Result<(Vec<Uid>, Vec<FolderChange>)> {
    let (account, _) = folder_owner(conn, folder).await?;
    // \Deleted is bit 8 (core::Flag::Deleted.bit()).
    let rows = match uids {
        None => sqlx::query(
            "SELECT uid FROM mailbox_entries WHERE folder_id = ? AND (flags & 8) <> 0 ORDER BY uid",
        )
        .bind(folder)
        .fetch_all(&mut *conn)
        .await,
        Some(uids) => {
            sqlx::query(
                "SELECT uid FROM mailbox_entries WHERE folder_id = ? AND (flags & 8) <> 0 \
                 AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
            )
            .bind(folder)
            .bind(rows::uid_set(uids))
            .fetch_all(&mut *conn)
            .await
        }
    }
    .map_err(db)?;
    let removed = rows
        .iter()
        .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
        .collect::<Result<Vec<Uid>>>()?;
    if removed.is_empty() {
        return Ok((removed, Vec::new()));
    }
    let modseq = remove_entries(conn, folder, &removed).await?;
    Ok((
        removed,
        vec![FolderChange {
            account,
            folder,
            modseq,
        }],
    ))
}

/// Deletes the entries and records them as expunged under one new MODSEQ, which it returns.
async fn remove_entries(
    conn: &mut SqliteConnection,
    folder: FolderId,
    uids: &[Uid],
) -> Result<ModSeq> {
    let (_, modseq) = allocate(conn, folder, 0).await?;
    let set = rows::uid_set(uids);
    sqlx::query(
        "INSERT INTO expunged (folder_id, uid, modseq) \
         SELECT folder_id, uid, ? FROM mailbox_entries WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?))",
    )
    .bind(rows::modseq_param(modseq))
    .bind(folder)
    .bind(&set)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM mailbox_entries WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?))")
        .bind(folder)
        .bind(&set)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(modseq)
}

async fn highest_modseq(conn: &mut SqliteConnection, folder: FolderId) -> Result<ModSeq> {
    let row = sqlx::query("SELECT highest_modseq FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    rows::to_modseq(row.try_get(0).map_err(db)?)
}
