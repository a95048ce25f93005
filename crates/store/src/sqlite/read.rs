//! Reading a folder: the SELECT view, FETCH records, and the changes since a MODSEQ that
//! IDLE, NOOP, CONDSTORE and QRESYNC report.
//!
//! What this keeps true:
//! - One query per call whatever the number of messages (no N+1): UID sets are bound as one
//!   JSON array, expanded by `json_each`, and looked up by the (folder_id, uid) primary key.
//! - `changes_since` reads the folder, the changed rows and the expunged UIDs in one read
//!   transaction, i.e. on one WAL snapshot, so the three agree.
//! - Records come from the index stored at delivery; the blob is never re-parsed.

use super::rows::{self, db, summary_from_row};
use crate::{
    BlobHash, FolderChanges, FolderId, MessageRecord, MessageSummary, ModSeq, Result, StoreError,
    Uid,
};
use congvu_wire::mime::{MessageIndex, SearchFields};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row};
use std::sync::Arc;

pub(super) async fn list_messages(
    read: &SqlitePool,
    folder: FolderId,
) -> Result<Vec<MessageSummary>> {
    let rows = sqlx::query(
        "SELECT uid, modseq, flags, keywords, internal_date, size FROM mailbox_entries \
         WHERE folder_id = ? ORDER BY uid",
    )
    .bind(folder)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(summary_from_row).collect()
}

/// The records' `index` carries everything FETCH needs; its `search_exact` and
/// `search_folded` are left empty (they can be large, and searching goes through
/// `search_text`).
pub(super) async fn fetch_records(
    read: &SqlitePool,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<MessageRecord>> {
    let rows = sqlx::query(
        "SELECT e.uid, e.modseq, e.flags, e.keywords, e.internal_date, e.size, \
         e.message_hash, m.size, m.sent_at, m.subject, m.from_display, m.message_id, m.has_attachments, \
         m.envelope, m.structure \
         FROM mailbox_entries e JOIN messages m ON m.hash = e.message_hash \
         WHERE e.folder_id = ? AND e.uid IN (SELECT value FROM json_each(?)) ORDER BY e.uid",
    )
    .bind(folder)
    .bind(rows::uid_set(uids))
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(record_from_row).collect()
}

fn record_from_row(row: &SqliteRow) -> Result<MessageRecord> {
    let summary = summary_from_row(row)?;
    let col = rows::SUMMARY_COLUMNS;
    let get_err = |e| db(e);
    let envelope: String = row.try_get(col + 7).map_err(get_err)?;
    let structure: String = row.try_get(col + 8).map_err(get_err)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Unavailable(format!("database corrupted: {what}: {e}"))
    };
    let size: i64 = row.try_get(col + 1).map_err(get_err)?;
    let index = MessageIndex {
        size: u64::try_from(size)
            .map_err(|_| StoreError::Unavailable("database corrupted: size".into()))?,
        envelope: serde_json::from_str(&envelope).map_err(|e| corrupt("envelope", e))?,
        structure: serde_json::from_str(&structure).map_err(|e| corrupt("body structure", e))?,
        sent_at: row.try_get(col + 2).map_err(get_err)?,
        subject: row.try_get(col + 3).map_err(get_err)?,
        from_display: row.try_get(col + 4).map_err(get_err)?,
        message_id: row.try_get(col + 5).map_err(get_err)?,
        search_exact: SearchFields::default(),
        search_folded: SearchFields::default(),
        has_attachments: row.try_get(col + 6).map_err(get_err)?,
    };
    Ok(MessageRecord {
        summary,
        blob: BlobHash(row.try_get(col).map_err(get_err)?),
        index: Arc::new(index),
    })
}

pub(super) async fn changes_since(
    read: &SqlitePool,
    folder: FolderId,
    modseq: ModSeq,
) -> Result<FolderChanges> {
    let since = rows::modseq_param(modseq);
    let mut conn = read.acquire().await.map_err(db)?;
    let mut tx = conn.begin().await.map_err(db)?;
    let head = sqlx::query("SELECT uidnext, highest_modseq FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    let changed = sqlx::query(
        "SELECT uid, modseq, flags, keywords, internal_date, size FROM mailbox_entries \
         WHERE folder_id = ? AND modseq > ? ORDER BY uid",
    )
    .bind(folder)
    .bind(since)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let expunged =
        sqlx::query("SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid")
            .bind(folder)
            .bind(since)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(FolderChanges {
        changed: changed
            .iter()
            .map(summary_from_row)
            .collect::<Result<_>>()?,
        expunged: expunged
            .iter()
            .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
            .collect::<Result<_>>()?,
        highest_modseq: rows::to_modseq(head.try_get(1).map_err(db)?)?,
        uidnext: rows::to_uid(head.try_get(0).map_err(db)?)?,
    })
}
