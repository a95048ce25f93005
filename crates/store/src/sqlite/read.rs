//! Reading a folder: the SELECT view, FETCH records, and the changes since a MODSEQ that
//! IDLE, NOOP, CONDSTORE and QRESYNC report.
//!
//! What this keeps true:
//! - One query per call whatever the number of messages (no N+1): UID sets are bound as one
//!   JSON array, expanded by `json_each`, and looked up by the (folder_id, uid) primary key.
//! - `changes_since` reads the folder, the changed rows and the expunged UIDs in one read
//!   transaction, i.e. on one WAL snapshot, so the three agree.
//! - Records come from the index stored at delivery; the blob is never re-parsed.
//! - The view of a large folder (`list_messages`) is kept in memory (`ViewCache`) and brought
//!   up to date from `changes_since`, so SELECT of a 100,000-message folder reads only what
//!   changed since the last SELECT by anyone. This is safe because every change to a folder's
//!   entries takes a new MODSEQ (`rows::allocate`): the same (folder, UIDVALIDITY, MODSEQ)
//!   always names the same set of rows.

use super::rows::{self, db, summary_from_row};
use crate::{
    BlobHash, FolderChanges, FolderId, MessageRecord, MessageSummary, ModSeq, Result, StoreError,
    Uid,
};
use congvu_wire::mime::{MessageIndex, SearchFields};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Folders with fewer messages are read from the database each time (a few milliseconds);
/// above it a SELECT is dominated by turning rows into summaries, which the cache avoids.
const CACHED_FOLDER_MIN: usize = 2_000;
/// Bound on cached folders: at ~60 bytes per message, 64 folders of 100k messages are 400 MB
/// at worst, and real servers have a handful of folders that large.
const CACHED_FOLDERS_MAX: usize = 64;

/// The last view read of each large folder, tagged with the MODSEQ it is current to.
#[derive(Default)]
pub(crate) struct ViewCache {
    views: Mutex<HashMap<FolderId, Arc<CachedView>>>,
}

struct CachedView {
    uidvalidity: i64,
    modseq: ModSeq,
    messages: Vec<MessageSummary>,
}

impl ViewCache {
    fn get(&self, folder: FolderId) -> Option<Arc<CachedView>> {
        self.views.lock().ok()?.get(&folder).cloned()
    }

    fn put(&self, folder: FolderId, view: CachedView) {
        let Ok(mut views) = self.views.lock() else {
            return;
        };
        if view.messages.len() < CACHED_FOLDER_MIN {
            views.remove(&folder);
            return;
        }
        if views.len() >= CACHED_FOLDERS_MAX && !views.contains_key(&folder) {
            // Any victim will do: a folder read again is simply loaded again.
            if let Some(victim) = views.keys().next().copied() {
                views.remove(&victim);
            }
        }
        views.insert(folder, Arc::new(view));
    }
}

pub(super) async fn list_messages(
    read: &SqlitePool,
    cache: &ViewCache,
    folder: FolderId,
) -> Result<Vec<MessageSummary>> {
    let mut conn = read.acquire().await.map_err(db)?;
    let mut tx = conn.begin().await.map_err(db)?;
    let head = sqlx::query("SELECT uidvalidity, highest_modseq FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(head) = head else {
        return Ok(Vec::new());
    };
    let uidvalidity: i64 = head.try_get(0).map_err(db)?;
    let modseq = rows::to_modseq(head.try_get(1).map_err(db)?)?;
    // A folder id can be reused after a delete; its UIDVALIDITY cannot (RFC 9051 §2.3.1.1).
    let cached = cache
        .get(folder)
        .filter(|v| v.uidvalidity == uidvalidity && v.modseq <= modseq);
    let messages = match cached {
        Some(view) if view.modseq == modseq => {
            tx.commit().await.map_err(db)?;
            return Ok(view.messages.clone());
        }
        Some(view) => {
            let (changed, expunged) = changed_rows(&mut tx, folder, view.modseq).await?;
            let gone: std::collections::HashSet<Uid> = expunged.into_iter().collect();
            let mut messages: Vec<MessageSummary> = view
                .messages
                .iter()
                .filter(|m| !gone.contains(&m.uid))
                .cloned()
                .collect();
            let mut added = false;
            for m in changed {
                match messages.binary_search_by_key(&m.uid, |x| x.uid) {
                    Ok(i) => messages[i] = m,
                    Err(_) => {
                        messages.push(m);
                        added = true;
                    }
                }
            }
            if added {
                messages.sort_by_key(|m| m.uid);
            }
            messages
        }
        None => {
            let rows = sqlx::query(
                "SELECT uid, modseq, flags, keywords, internal_date, size FROM mailbox_entries \
                 WHERE folder_id = ? ORDER BY uid",
            )
            .bind(folder)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            rows.iter()
                .map(summary_from_row)
                .collect::<Result<Vec<_>>>()?
        }
    };
    tx.commit().await.map_err(db)?;
    cache.put(
        folder,
        CachedView {
            uidvalidity,
            modseq,
            messages: messages.clone(),
        },
    );
    Ok(messages)
}

/// The entries changed and the UIDs expunged since `since`, read in the caller's transaction.
async fn changed_rows(
    tx: &mut SqliteConnection,
    folder: FolderId,
    since: ModSeq,
) -> Result<(Vec<MessageSummary>, Vec<Uid>)> {
    let since = rows::modseq_param(since);
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
    Ok((
        changed
            .iter()
            .map(summary_from_row)
            .collect::<Result<_>>()?,
        expunged
            .iter()
            .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
            .collect::<Result<_>>()?,
    ))
}

/// The Date header (seconds since the epoch) of every message of a folder, by UID: all SORT
/// by DATE needs, without reading envelopes and body structures.
pub(super) async fn sent_dates(
    read: &SqlitePool,
    folder: FolderId,
) -> Result<Vec<(Uid, Option<i64>)>> {
    let rows = sqlx::query(
        "SELECT e.uid, m.sent_at FROM mailbox_entries e JOIN messages m ON m.hash = e.message_hash \
         WHERE e.folder_id = ? ORDER BY e.uid",
    )
    .bind(folder)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok((
                rows::to_uid(row.try_get(0).map_err(db)?)?,
                row.try_get(1).map_err(db)?,
            ))
        })
        .collect()
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
    let mut conn = read.acquire().await.map_err(db)?;
    let mut tx = conn.begin().await.map_err(db)?;
    let head = sqlx::query("SELECT uidnext, highest_modseq FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    let (changed, expunged) = changed_rows(&mut tx, folder, modseq).await?;
    tx.commit().await.map_err(db)?;
    Ok(FolderChanges {
        changed,
        expunged,
        highest_modseq: rows::to_modseq(head.try_get(1).map_err(db)?)?,
        uidnext: rows::to_uid(head.try_get(0).map_err(db)?)?,
    })
}
