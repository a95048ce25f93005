//! Reading a folder: the SELECT view, FETCH records, and the changes since a MODSEQ that
//! IDLE, NOOP, CONDSTORE and QRESYNC report.
//!
//! What this keeps true:
//! - A bounded number of queries per call whatever the number of messages (no N+1): UID sets
//!   are bound as one JSON array, expanded by `json_each`, and looked up by the (folder_id,
//!   uid) primary key. `fetch_records` reads the entries, then in one more query the indexes
//!   of messages not in the index cache (`Shared::indexes`: content-addressed, so never stale).
//! - `changes_since` reads the folder, the changed rows and the expunged UIDs in one read
//!   transaction, i.e. on one WAL snapshot, so the three agree.
//! - Records come from the index stored at delivery; the blob is never re-parsed.
//! - The view of a folder (`list_messages`) is kept in memory (`ViewCache`) and brought up to
//!   date from `changes_since`, so SELECT of a 100,000-message folder reads only what changed
//!   since the last SELECT by anyone. This is safe because every change to a folder's
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

/// Bound on the messages of all cached views together: at ~70 bytes per message, about
/// 140 MB at worst. Every folder is cached, small ones too: a SELECT or NOOP then applies
/// what changed since the view's MODSEQ instead of reading and converting every row again,
/// and the sessions of one folder share its view instead of holding a copy each.
const CACHED_MESSAGES_MAX: usize = 2_000_000;

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

/// The last view read of each folder, within [`CACHED_MESSAGES_MAX`]. A view is tagged with
/// its UIDVALIDITY and the MODSEQ it is current to; sessions share it (`Arc`) until they
/// change their own copy.
#[derive(Default)]
pub(crate) struct ViewCache {
    inner: Mutex<CachedViews>,
}

#[derive(Default)]
struct CachedViews {
    views: HashMap<FolderId, Arc<FolderView>>,
    /// Messages in `views` together.
    messages: usize,
}

impl ViewCache {
    fn get(&self, folder: FolderId) -> Option<Arc<FolderView>> {
        self.inner.lock().ok()?.views.get(&folder).cloned()
    }

    fn put(&self, folder: FolderId, view: &Arc<FolderView>) {
        let Ok(mut cache) = self.inner.lock() else {
            return;
        };
        let cache = &mut *cache;
        // Two sessions may refresh at once: keep the newer view.
        if let Some(old) = cache.views.get(&folder)
            && old.uidvalidity == view.uidvalidity
            && old.modseq > view.modseq
        {
            return;
        }
        if let Some(old) = cache.views.remove(&folder) {
            cache.messages -= old.messages.len();
        }
        if view.messages.len() > CACHED_MESSAGES_MAX {
            return;
        }
        while cache.messages + view.messages.len() > CACHED_MESSAGES_MAX {
            // Any victim will do: a folder read again is simply loaded again.
            let Some(victim) = cache.views.keys().next().copied() else {
                break;
            };
            if let Some(old) = cache.views.remove(&victim) {
                cache.messages -= old.messages.len();
            }
        }
        cache.messages += view.messages.len();
        cache.views.insert(folder, view.clone());
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
    shared: &Shared,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<MessageRecord>> {
    let rows = sqlx::query(
        "SELECT uid, modseq, flags, keywords, internal_date, size, message_hash \
         FROM mailbox_entries WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) \
         ORDER BY uid",
    )
    .bind(folder)
    .bind(rows::uid_set(uids))
    .fetch_all(&shared.read)
    .await
    .map_err(db)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let hash: String = row.try_get(rows::SUMMARY_COLUMNS).map_err(db)?;
        entries.push((summary_from_row(row)?, hash));
    }
    // Indexes parsed before are shared from memory; the others are read in one query.
    let mut indexes: HashMap<String, Arc<MessageIndex>> = HashMap::new();
    let mut missing: Vec<&str> = Vec::new();
    for (_, hash) in &entries {
        match shared.indexes.get(hash) {
            Some(index) => {
                indexes.insert(hash.clone(), index);
            }
            None => missing.push(hash),
        }
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        let json = serde_json::to_string(&missing)
            .map_err(|e| StoreError::Unavailable(format!("encoding hashes: {e}")))?;
        let rows = sqlx::query(
            "SELECT hash, size, sent_at, subject, from_display, message_id, has_attachments, \
             envelope, structure FROM messages WHERE hash IN (SELECT value FROM json_each(?))",
        )
        .bind(json)
        .fetch_all(&shared.read)
        .await
        .map_err(db)?;
        for row in &rows {
            let (hash, index, cost) = index_from_row(row)?;
            let index = Arc::new(index);
            shared.indexes.insert(&hash, index.clone(), cost);
            indexes.insert(hash, index);
        }
    }
    // An entry whose message row is gone was expunged and collected meanwhile: left out,
    // like an entry expunged before the first query.
    Ok(entries
        .iter()
        .filter_map(|(summary, hash)| {
            indexes.get(hash).map(|index| MessageRecord {
                summary: summary.clone(),
                blob: BlobHash(hash.clone()),
                index: index.clone(),
            })
        })
        .collect())
}

/// A message's index from a `fetch_records` row of `messages`, with its hash and roughly the
/// memory it takes (for the cache's budget).
fn index_from_row(row: &SqliteRow) -> Result<(String, MessageIndex, usize)> {
    let get_err = |e| db(e);
    let hash: String = row.try_get(0).map_err(get_err)?;
    let envelope: String = row.try_get(7).map_err(get_err)?;
    let structure: String = row.try_get(8).map_err(get_err)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Unavailable(format!("database corrupted: {what}: {e}"))
    };
    let size: i64 = row.try_get(1).map_err(get_err)?;
    let subject: String = row.try_get(3).map_err(get_err)?;
    let from_display: String = row.try_get(4).map_err(get_err)?;
    // Parsed JSON takes about twice its text in memory (strings, vectors, their headers).
    let cost = 256 + 2 * (envelope.len() + structure.len()) + subject.len() + from_display.len();
    let index = MessageIndex {
        size: u64::try_from(size)
            .map_err(|_| StoreError::Unavailable("database corrupted: size".into()))?,
        envelope: serde_json::from_str(&envelope).map_err(|e| corrupt("envelope", e))?,
        structure: serde_json::from_str(&structure).map_err(|e| corrupt("body structure", e))?,
        sent_at: row.try_get(2).map_err(get_err)?,
        subject,
        from_display,
        message_id: row.try_get(5).map_err(get_err)?,
        search_exact: SearchFields::default(),
        search_folded: SearchFields::default(),
        has_attachments: row.try_get(6).map_err(get_err)?,
    };
    Ok((hash, index, cost))
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
