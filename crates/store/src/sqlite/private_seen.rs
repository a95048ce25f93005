//! A reader's own \Seen state in a folder that is not theirs (a keeper in a shared unit
//! mailbox), kept apart from the message flags (migration 0006).
//!
//! Keeps true: marking is idempotent (a UID is seen once) and one statement per call, so a
//! call is applied in full or not at all; the message's flags and MODSEQ are never touched.

use super::Shared;
use super::rows::{self, db};
use crate::{AccountId, FolderId, Result, Uid};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

pub(super) async fn private_seen(
    read: &SqlitePool,
    account: AccountId,
    folder: FolderId,
) -> Result<Vec<Uid>> {
    let rows = sqlx::query(
        "SELECT uid FROM private_seen WHERE account_id = ? AND folder_id = ? ORDER BY uid",
    )
    .bind(account)
    .bind(folder)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
        .collect()
}

pub(super) async fn set_private_seen(
    shared: &Shared,
    account: AccountId,
    folder: FolderId,
    uids: &[Uid],
    seen: bool,
) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    // The UIDs travel as one JSON array, so a call is one statement whatever its size.
    let list = format!(
        "[{}]",
        uids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let sql = if seen {
        "INSERT OR IGNORE INTO private_seen (account_id, folder_id, uid) \
         SELECT ?, ?, value FROM json_each(?)"
    } else {
        "DELETE FROM private_seen WHERE account_id = ? AND folder_id = ? \
         AND uid IN (SELECT value FROM json_each(?))"
    };
    let mut conn = shared.write.lock().await;
    sqlx::query(sql)
        .bind(account)
        .bind(folder)
        .bind(list)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}
