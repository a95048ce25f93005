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
//!   always names the same set of rows. `folder_view` hands the cached view itself (an
//!   `Arc`) to every session and asks the database nothing when the folder row the caller
//!   just read is not newer, so a SELECT of a large folder copies and reads nothing more.
//! - SORT by DATE reads the Date header copied into each entry (`sent_at`, migration 0009)
//!   with the view, never the wide `messages` rows.

use super::Shared;
use super::heads::Heads;
use super::rows::{self, db, summary_from_row};
use crate::{
    BlobHash, Folder, FolderChanges, FolderId, FolderView, MessageRecord, MessageSummary, ModSeq,
    Result, StoreError, Uid,
};
use congvu_wire::mime::{MessageIndex, SearchFields};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Folders with fewer messages are read from the database each time (a few milliseconds);
/// above it a SELECT is dominated by turning rows into summaries, which the cache avoids.
const CACHED_FOLDER_MIN: usize = 2_000;
/// Bound on cached folders: at ~70 bytes per message, 64 folders of 100k messages are 450 MB
/// at worst, and real servers have a handful of folders that large.
const CACHED_FOLDERS_MAX: usize = 64;

/// `SELECT` of what a view needs of an entry: `summary_from_row`'s columns, then the Date
/// header copy (migration 0009).
macro_rules! select_view_entries {
    ($rest:literal) => {
        concat!(
            "SELECT uid, modseq, flags, keywords, internal_date, size, sent_at FROM mailbox_entries ",
            $rest
        )
    };
}

/// The last view read of each large folder. A view is tagged with its UIDVALIDITY and the
/// MODSEQ it is current to; sessions share it (`Arc`) until they change their own copy.
#[derive(Default)]
pub(crate) struct ViewCache {
    views: Mutex<HashMap<FolderId, Arc<FolderView>>>,
}

impl ViewCache {
    fn get(&self, folder: FolderId) -> Option<Arc<FolderView>> {
        self.views.lock().ok()?.get(&folder).cloned()
    }

    fn put(&self, folder: FolderId, view: &Arc<FolderView>) {
        let Ok(mut views) = self.views.lock() else {
            return;
        };
        if view.messages.len() < CACHED_FOLDER_MIN {
            views.remove(&folder);
            return;
        }
        // Two sessions may refresh at once: keep the newer view.
        if let Some(old) = views.get(&folder)
            && old.uidvalidity == view.uidvalidity
            && old.modseq > view.modseq
        {
            return;
        }
        if views.len() >= CACHED_FOLDERS_MAX && !views.contains_key(&folder) {
            // Any victim will do: a folder read again is simply loaded again.
            if let Some(victim) = views.keys().next().copied() {
                views.remove(&victim);
            }
        }
        views.insert(folder, view.clone());
    }
}

/// The view of `folder` current to the folder row the caller just read, or later. No query
/// at all when the cached view is that recent: the same (folder, UIDVALIDITY, MODSEQ) always
/// names the same rows, because every change to a folder's entries takes a new MODSEQ.
pub(super) async fn folder_view(shared: &Shared, folder: &Folder) -> Result<Arc<FolderView>> {
    if let Some(view) = shared.views.get(folder.id)
        && view.uidvalidity == folder.uidvalidity
        && view.modseq >= folder.highest_modseq
    {
        return Ok(view);
    }
    load_view(shared, folder.id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("folder {}", folder.id)))
}

pub(super) async fn list_messages(
    shared: &Shared,
    folder: FolderId,
) -> Result<Vec<MessageSummary>> {
    Ok(load_view(shared, folder)
        .await?
        .map(|v| v.messages.as_ref().clone())
        .unwrap_or_default())
}

/// The Date header of every message of a folder, by UID: all SORT by DATE needs.
pub(super) async fn sent_dates(
    shared: &Shared,
    folder: FolderId,
) -> Result<Vec<(Uid, Option<i64>)>> {
    Ok(load_view(shared, folder)
        .await?
        .map(|v| {
            v.messages
                .iter()
                .zip(&v.sent_at)
                .map(|(m, d)| (m.uid, *d))
                .collect()
        })
        .unwrap_or_default())
}

/// Reads the folder's current view: from the cached one and what changed since, or whole.
/// None when the folder does not exist.
async fn load_view(shared: &Shared, folder: FolderId) -> Result<Option<Arc<FolderView>>> {
    let cache = &shared.views;
    let epoch = shared.heads.epoch();
    let mut conn = shared.read.acquire().await.map_err(db)?;
    let mut tx = conn.begin().await.map_err(db)?;
    let head = sqlx::query("SELECT uidvalidity, highest_modseq FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(head) = head else {
        return Ok(None);
    };
    let uidvalidity = u32::try_from(head.try_get::<i64, _>(0).map_err(db)?)
        .map_err(|_| StoreError::Unavailable("database corrupted: UIDVALIDITY".into()))?;
    let modseq = rows::to_modseq(head.try_get(1).map_err(db)?)?;
    shared.heads.observed(epoch, folder, modseq);
    // A folder id can be reused after a delete; its UIDVALIDITY cannot (RFC 9051 §2.3.1.1).
    let cached = cache
        .get(folder)
        .filter(|v| v.uidvalidity == uidvalidity && v.modseq <= modseq);
    let (messages, sent_at) = match cached {
        Some(view) if view.modseq == modseq => {
            tx.commit().await.map_err(db)?;
            return Ok(Some(view));
        }
        Some(view) => {
            let (changed, expunged) = changed_rows(&mut tx, folder, view.modseq).await?;
            apply_changes(&view, changed, expunged)
        }
        None => {
            let rows = sqlx::query(select_view_entries!("WHERE folder_id = ? ORDER BY uid"))
                .bind(folder)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let mut messages = Vec::with_capacity(rows.len());
            let mut sent_at = Vec::with_capacity(rows.len());
            for row in &rows {
                let (m, d) = entry_from_row(row)?;
                messages.push(m);
                sent_at.push(d);
            }
            (messages, sent_at)
        }
    };
    tx.commit().await.map_err(db)?;
    let view = Arc::new(FolderView::new(uidvalidity, modseq, messages, sent_at));
    cache.put(folder, &view);
    Ok(Some(view))
}

/// `view` with the rows changed and the UIDs expunged since its MODSEQ applied.
fn apply_changes(
    view: &FolderView,
    changed: Vec<(MessageSummary, Option<i64>)>,
    expunged: Vec<Uid>,
) -> (Vec<MessageSummary>, Vec<Option<i64>>) {
    let gone: HashSet<Uid> = expunged.into_iter().collect();
    let mut entries: Vec<(MessageSummary, Option<i64>)> = view
        .messages
        .iter()
        .zip(&view.sent_at)
        .filter(|(m, _)| !gone.contains(&m.uid))
        .map(|(m, d)| (m.clone(), *d))
        .collect();
    let mut added = false;
    for entry in changed {
        match entries.binary_search_by_key(&entry.0.uid, |x| x.0.uid) {
            Ok(i) => entries[i] = entry,
            Err(_) => {
                // New UIDs are above every UID the view has (UIDs only grow), and `changed`
                // is in UID order, so pushing keeps the order; sorted below all the same.
                entries.push(entry);
                added = true;
            }
        }
    }
    if added {
        entries.sort_by_key(|e| e.0.uid);
    }
    entries.into_iter().unzip()
}

/// A `select_view_entries!` row.
fn entry_from_row(row: &SqliteRow) -> Result<(MessageSummary, Option<i64>)> {
    Ok((
        summary_from_row(row)?,
        row.try_get(rows::SUMMARY_COLUMNS).map_err(db)?,
    ))
}

/// The entries changed and the UIDs expunged since `since`, read in the caller's transaction.
async fn changed_rows(
    tx: &mut SqliteConnection,
    folder: FolderId,
    since: ModSeq,
) -> Result<(Vec<(MessageSummary, Option<i64>)>, Vec<Uid>)> {
    let since = rows::modseq_param(since);
    let changed = sqlx::query(select_view_entries!(
        "WHERE folder_id = ? AND modseq > ? ORDER BY uid"
    ))
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
        changed.iter().map(entry_from_row).collect::<Result<_>>()?,
        expunged
            .iter()
            .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
            .collect::<Result<_>>()?,
    ))
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
    heads: &Heads,
    folder: FolderId,
    modseq: ModSeq,
) -> Result<FolderChanges> {
    let epoch = heads.epoch();
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
    let highest_modseq = rows::to_modseq(head.try_get(1).map_err(db)?)?;
    heads.observed(epoch, folder, highest_modseq);
    Ok(FolderChanges {
        changed: changed.into_iter().map(|(m, _)| m).collect(),
        expunged,
        highest_modseq,
        uidnext: rows::to_uid(head.try_get(0).map_err(db)?)?,
    })
}
