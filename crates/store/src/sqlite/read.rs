//! Reading a folder: the SELECT view, FETCH records, and the changes since a MODSEQ that
//! IDLE, NOOP, CONDSTORE and QRESYNC report.
//!
//! What this keeps true:
//! - A bounded number of queries per call whatever the number of messages (no N+1): UID sets
//!   are bound as one JSON array, expanded by `json_each`, and looked up by the (folder_id,
//!   uid) primary key.
//! - `changes_since` reads the folder, the changed rows and the expunged UIDs in one read
//!   transaction, i.e. on one WAL snapshot, so the three agree.
//! - Records come from the index stored at delivery; the blob is never re-parsed.
//! - The view of a folder (`list_messages`) is kept in memory (`ViewCache`): each message's
//!   summary, Date header copy and body hash. It is safe to keep because every change to a
//!   folder's entries takes a new MODSEQ (`rows::allocate`): the same (folder, UIDVALIDITY,
//!   MODSEQ) always names the same set of rows. `folder_view` hands the cached view itself
//!   (an `Arc`) to every session and asks the database nothing when the folder row the caller
//!   just read is not newer, so a SELECT of a large folder copies and reads nothing more.
//! - The view is kept current without queries where it can be:
//!   - the mailbox writer brings it forward with each batch it commits (`ViewCache::advance`),
//!     when the batch's writes continue the view's MODSEQ one by one;
//!   - otherwise the next reader applies what changed since the view's MODSEQ (`load_view`).
//!
//!   A view is taken as current while this process knows of no later commit to its folder
//!   (`Heads`, which also notices other processes' commits within a second).
//! - From a current view, with no query: `fetch_records` takes each message's summary and
//!   hash (then its index from `Shared::indexes`, or one query for the missing ones);
//!   `changes_since` answers from the view and the expunges it remembers; header SEARCH
//!   matches text from memory (`search.rs`). Under a mixed load every commit makes SQLite's
//!   readers drop their page cache, so a query avoided is pages not read again.
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
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Bound on the messages of all cached views together: at ~70 bytes per message, about
/// 140 MB at worst. Every folder is cached, small ones too: a SELECT or NOOP then applies
/// what changed since the view's MODSEQ instead of reading and converting every row again,
/// and the sessions of one folder share its view instead of holding a copy each.
const CACHED_MESSAGES_MAX: usize = 2_000_000;

/// `SELECT` of what a view needs of an entry: `summary_from_row`'s columns, then the Date
/// header copy (migration 0009) and the message's hash.
macro_rules! select_view_entries {
    ($rest:literal) => {
        concat!(
            "SELECT uid, modseq, flags, keywords, internal_date, size, sent_at, message_hash FROM mailbox_entries ",
            $rest
        )
    };
}

/// Views larger than this are not advanced by the writer (`ViewCache::advance`), whose copy of
/// the view would delay the writes waiting behind it; the next reader refreshes them instead.
const ADVANCED_VIEW_MAX: usize = 10_000;

/// What one committed write changed in a folder's entries, at the MODSEQ it took: how the
/// mailbox writer brings a cached view forward without a query (`ViewCache::advance`).
pub(super) enum ViewDelta {
    Added(ViewEntry),
    /// New flags and MODSEQ of the messages a STORE changed.
    Flags(Vec<MessageSummary>),
    Expunged(Vec<Uid>),
}

/// Expunges remembered with each cached view (`CachedView::expunged`): enough for the sessions
/// of a folder to catch up with what was expunged since their last command.
const EXPUNGE_LOG_MAX: usize = 256;

/// The last view read of each folder, within [`CACHED_MESSAGES_MAX`]. A view is tagged with
/// its UIDVALIDITY and the MODSEQ it is current to; sessions share it (`Arc`) until they
/// change their own copy.
#[derive(Default)]
pub(crate) struct ViewCache {
    inner: Mutex<CachedViews>,
}

#[derive(Default)]
struct CachedViews {
    views: HashMap<FolderId, CachedView>,
    /// Messages in `views` together.
    messages: usize,
}

/// A folder's view with what `changes_since` needs besides it.
struct CachedView {
    view: Arc<FolderView>,
    /// The folder's UIDNEXT at the view's MODSEQ.
    uidnext: Uid,
    /// Every expunge with a MODSEQ above `log_from`, up to the view's, in MODSEQ order.
    expunged: VecDeque<(ModSeq, Uid)>,
    log_from: ModSeq,
}

impl CachedView {
    fn log(&mut self, expunged: impl IntoIterator<Item = (ModSeq, Uid)>) {
        self.expunged.extend(expunged);
        while self.expunged.len() > EXPUNGE_LOG_MAX {
            if let Some((modseq, _)) = self.expunged.pop_front() {
                self.log_from = modseq;
            }
        }
    }
}

/// A view just read, and what was read with it: the folder's UIDNEXT, and every expunge with
/// a MODSEQ above `known_since` (the MODSEQ of the view it was brought forward from, or the
/// view's own when read whole).
struct ReadView {
    view: Arc<FolderView>,
    uidnext: Uid,
    known_since: ModSeq,
    expunged: Vec<(ModSeq, Uid)>,
}

impl ViewCache {
    /// Drops a folder's view: the folder is gone, and its id may be given to a new folder.
    pub(super) fn forget(&self, folder: FolderId) {
        if let Ok(mut cache) = self.inner.lock()
            && let Some(old) = cache.views.remove(&folder)
        {
            cache.messages -= old.view.messages.len();
        }
    }

    /// Drops every view (mailboxes were purged).
    pub(super) fn clear(&self) {
        if let Ok(mut cache) = self.inner.lock() {
            cache.views.clear();
            cache.messages = 0;
        }
    }

    /// Brings cached views forward with the writes of a batch just committed, given in commit
    /// order with the MODSEQ each took. Every change to a folder's entries takes the folder's
    /// next MODSEQ (`rows::allocate`, `rows::next_modseq`), so a view at MODSEQ m plus the
    /// write that took m+1 is exactly the folder at m+1. A view the writes do not continue
    /// (a change made elsewhere came between, say a COPY or another process) is left as it
    /// is, for the next reader to refresh from the database.
    pub(super) fn advance(&self, deltas: Vec<(FolderId, ModSeq, ViewDelta)>) {
        let mut by_folder: HashMap<FolderId, Vec<(ModSeq, ViewDelta)>> = HashMap::new();
        for (folder, modseq, delta) in deltas {
            by_folder.entry(folder).or_default().push((modseq, delta));
        }
        let Ok(mut cache) = self.inner.lock() else {
            return;
        };
        let cache = &mut *cache;
        for (folder, deltas) in by_folder {
            let Some(cached) = cache.views.get_mut(&folder) else {
                continue;
            };
            let view = &cached.view;
            if view.messages.len() > ADVANCED_VIEW_MAX
                || deltas.first().map(|(m, _)| *m) != view.modseq.checked_add(1)
            {
                continue;
            }
            let mut entries: Vec<ViewEntry> = ViewEntries::of(view).collect();
            let mut modseq = view.modseq;
            let mut uidnext = cached.uidnext;
            let mut expunged = Vec::new();
            for (at, delta) in deltas {
                if Some(at) != modseq.checked_add(1) {
                    break; // a gap: the view is current to `modseq`, and no further
                }
                modseq = at;
                match delta {
                    ViewDelta::Added(entry) => {
                        uidnext = uidnext.max(entry.0.uid.saturating_add(1));
                        let in_order = entries.last().is_none_or(|e| e.0.uid < entry.0.uid);
                        entries.push(entry);
                        if !in_order {
                            entries.sort_by_key(|e| e.0.uid);
                        }
                    }
                    ViewDelta::Flags(summaries) => {
                        for summary in summaries {
                            if let Ok(i) = entries.binary_search_by_key(&summary.uid, |e| e.0.uid) {
                                entries[i].0 = summary;
                            }
                        }
                    }
                    ViewDelta::Expunged(uids) => {
                        let gone: HashSet<Uid> = uids.iter().copied().collect();
                        entries.retain(|e| !gone.contains(&e.0.uid));
                        expunged.extend(uids.into_iter().map(|uid| (at, uid)));
                    }
                }
            }
            let old_len = view.messages.len();
            let view = ViewEntries::from_iter(entries).into_view(view.uidvalidity, modseq);
            cache.messages = cache.messages - old_len + view.messages.len();
            cached.view = Arc::new(view);
            cached.uidnext = uidnext;
            cached.log(expunged);
        }
    }

    /// What `changes_since` would read, from the cached view alone: None unless the view is
    /// current as far as this process knows (`heads`) and its expunge log reaches back to
    /// `since`.
    fn changes_since(
        &self,
        heads: &Heads,
        folder: FolderId,
        since: ModSeq,
    ) -> Option<FolderChanges> {
        let changes = {
            let cache = self.inner.lock().ok()?;
            let cached = cache.views.get(&folder)?;
            if since < cached.log_from || since > cached.view.modseq {
                return None;
            }
            let mut expunged: Vec<Uid> = cached
                .expunged
                .iter()
                .filter(|(m, _)| *m > since)
                .map(|(_, uid)| *uid)
                .collect();
            expunged.sort_unstable();
            FolderChanges {
                changed: cached
                    .view
                    .messages
                    .iter()
                    .filter(|m| m.modseq > since)
                    .cloned()
                    .collect(),
                expunged,
                highest_modseq: cached.view.modseq,
                uidnext: cached.uidnext,
            }
        };
        heads
            .unchanged_since(folder, changes.highest_modseq)
            .then_some(changes)
    }

    fn get(&self, folder: FolderId) -> Option<Arc<FolderView>> {
        Some(self.inner.lock().ok()?.views.get(&folder)?.view.clone())
    }

    fn put(&self, folder: FolderId, read: ReadView) {
        let Ok(mut cache) = self.inner.lock() else {
            return;
        };
        let cache = &mut *cache;
        let view = &read.view;
        let mut log = None;
        if let Some(old) = cache.views.get(&folder)
            && old.view.uidvalidity == view.uidvalidity
        {
            // Two sessions may refresh at once: keep the newer view.
            if old.view.modseq > view.modseq {
                return;
            }
            // Brought forward from this very view: its log goes on.
            if old.view.modseq == read.known_since {
                log = Some((old.expunged.clone(), old.log_from));
            }
        }
        if let Some(old) = cache.views.remove(&folder) {
            cache.messages -= old.view.messages.len();
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
                cache.messages -= old.view.messages.len();
            }
        }
        cache.messages += view.messages.len();
        let (expunged, log_from) = log.unwrap_or((VecDeque::new(), read.known_since));
        let mut cached = CachedView {
            view: read.view,
            uidnext: read.uidnext,
            expunged,
            log_from,
        };
        cached.log(read.expunged);
        cache.views.insert(folder, cached);
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
    let head = sqlx::query("SELECT uidvalidity, highest_modseq, uidnext FROM folders WHERE id = ?")
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
    let uidnext = rows::to_uid(head.try_get(2).map_err(db)?)?;
    shared.heads.observed(epoch, folder, modseq);
    // A folder id can be reused after a delete; its UIDVALIDITY cannot (RFC 9051 §2.3.1.1).
    let cached = cache
        .get(folder)
        .filter(|v| v.uidvalidity == uidvalidity && v.modseq <= modseq);
    let (entries, known_since, expunged) = match cached {
        Some(view) if view.modseq == modseq => {
            tx.commit().await.map_err(db)?;
            return Ok(Some(view));
        }
        Some(view) => {
            let (changed, expunged) = changed_rows(&mut tx, folder, view.modseq).await?;
            let gone = expunged.iter().map(|(_, uid)| *uid).collect();
            (apply_changes(&view, changed, gone), view.modseq, expunged)
        }
        None => {
            let rows = sqlx::query(select_view_entries!("WHERE folder_id = ? ORDER BY uid"))
                .bind(folder)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let entries = rows.iter().map(entry_from_row).collect::<Result<_>>()?;
            (entries, modseq, Vec::new())
        }
    };
    tx.commit().await.map_err(db)?;
    let view = Arc::new(entries.into_view(uidvalidity, modseq));
    cache.put(
        folder,
        ReadView {
            view: view.clone(),
            uidnext,
            known_since,
            expunged,
        },
    );
    Ok(Some(view))
}

/// A view's columns while it is being built.
#[derive(Default)]
struct ViewEntries {
    messages: Vec<MessageSummary>,
    sent_at: Vec<Option<i64>>,
    hashes: Vec<[u8; 32]>,
}

/// One entry of a view: a `select_view_entries!` row.
pub(super) type ViewEntry = (MessageSummary, Option<i64>, [u8; 32]);

impl ViewEntries {
    /// The entries of `view`, one tuple per message, to be changed and collected back.
    fn of(view: &FolderView) -> impl Iterator<Item = ViewEntry> + '_ {
        view.messages
            .iter()
            .zip(&view.sent_at)
            .zip(&view.hashes)
            .map(|((m, d), h)| (m.clone(), *d, *h))
    }

    fn into_view(self, uidvalidity: u32, modseq: ModSeq) -> FolderView {
        FolderView::new(
            uidvalidity,
            modseq,
            self.messages,
            self.sent_at,
            self.hashes,
        )
    }
}

impl FromIterator<ViewEntry> for ViewEntries {
    fn from_iter<I: IntoIterator<Item = ViewEntry>>(entries: I) -> Self {
        let mut columns = ViewEntries::default();
        for (m, d, h) in entries {
            columns.messages.push(m);
            columns.sent_at.push(d);
            columns.hashes.push(h);
        }
        columns
    }
}

/// `view` with the rows changed and the UIDs expunged since its MODSEQ applied.
fn apply_changes(view: &FolderView, changed: Vec<ViewEntry>, expunged: Vec<Uid>) -> ViewEntries {
    let gone: HashSet<Uid> = expunged.into_iter().collect();
    let mut entries: Vec<ViewEntry> = ViewEntries::of(view)
        .filter(|(m, _, _)| !gone.contains(&m.uid))
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
    entries.into_iter().collect()
}

/// A `select_view_entries!` row.
fn entry_from_row(row: &SqliteRow) -> Result<ViewEntry> {
    let hash: String = row.try_get(rows::SUMMARY_COLUMNS + 1).map_err(db)?;
    Ok((
        summary_from_row(row)?,
        row.try_get(rows::SUMMARY_COLUMNS).map_err(db)?,
        hash_of_row(&hash)?,
    ))
}

/// The entries changed and the UIDs expunged since `since`, read in the caller's transaction.
async fn changed_rows(
    tx: &mut SqliteConnection,
    folder: FolderId,
    since: ModSeq,
) -> Result<(Vec<ViewEntry>, Vec<(ModSeq, Uid)>)> {
    let since = rows::modseq_param(since);
    let changed = sqlx::query(select_view_entries!(
        "WHERE folder_id = ? AND modseq > ? ORDER BY uid"
    ))
    .bind(folder)
    .bind(since)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let expunged = sqlx::query(
        "SELECT modseq, uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY modseq, uid",
    )
    .bind(folder)
    .bind(since)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    Ok((
        changed.iter().map(entry_from_row).collect::<Result<_>>()?,
        expunged
            .iter()
            .map(|row| {
                Ok((
                    rows::to_modseq(row.try_get(0).map_err(db)?)?,
                    rows::to_uid(row.try_get(1).map_err(db)?)?,
                ))
            })
            .collect::<Result<_>>()?,
    ))
}

/// `fetch_records` without the indexes: from a current view, no query at all.
pub(super) async fn fetch_bodies(
    shared: &Shared,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<(MessageSummary, BlobHash)>> {
    Ok(entries(shared, folder, uids)
        .await?
        .into_iter()
        .map(|(summary, hash)| (summary, hex(&hash)))
        .collect())
}

/// The records' `index` carries everything FETCH needs; its `search_exact` and
/// `search_folded` are left empty (they can be large, and searching goes through
/// `search_text`).
pub(super) async fn fetch_records(
    shared: &Shared,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<MessageRecord>> {
    let entries = entries(shared, folder, uids).await?;
    // Indexes parsed before are shared from memory; the others are read in one query.
    let mut indexes: HashMap<[u8; 32], Arc<MessageIndex>> = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    for (_, hash) in &entries {
        match shared.indexes.get(hash) {
            Some(index) => {
                indexes.insert(*hash, index);
            }
            None => missing.push(hex(hash).0),
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
            let Some(key) = crate::hash_bytes(&hash) else {
                continue; // not a hash this query asked for
            };
            let index = Arc::new(index);
            shared.indexes.insert(&key, index.clone(), cost);
            indexes.insert(key, index);
        }
    }
    // An entry whose message row is gone was expunged and collected meanwhile: left out,
    // like an entry expunged before the first query.
    Ok(entries
        .iter()
        .filter_map(|(summary, hash)| {
            indexes.get(hash).map(|index| MessageRecord {
                summary: summary.clone(),
                blob: hex(hash),
                index: index.clone(),
            })
        })
        .collect())
}

/// The cached view of `folder`, brought up to date if this process committed a change to the
/// folder since; None when no view of it is cached. No query at all when the view is current
/// (see `folder_view` for why the MODSEQ is enough).
pub(super) async fn cached_current_view(
    shared: &Shared,
    folder: FolderId,
) -> Result<Option<Arc<FolderView>>> {
    let Some(view) = shared.views.get(folder) else {
        return Ok(None);
    };
    if shared.heads.unchanged_since(folder, view.modseq) {
        return Ok(Some(view));
    }
    load_view(shared, folder).await
}

/// The current view of `folder`: the cached one (brought up to date), or read whole. None
/// when the folder does not exist.
pub(super) async fn cached_or_loaded_view(
    shared: &Shared,
    folder: FolderId,
) -> Result<Option<Arc<FolderView>>> {
    match cached_current_view(shared, folder).await? {
        Some(view) => Ok(Some(view)),
        None => load_view(shared, folder).await,
    }
}

/// The summary and body hash of each of `uids` still in the folder, in UID order, each once:
/// from the current view when one is cached (no query), else from `mailbox_entries`.
async fn entries(
    shared: &Shared,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<(MessageSummary, [u8; 32])>> {
    match cached_current_view(shared, folder).await? {
        Some(view) => Ok(entries_from_view(&view, uids)),
        None => entries_from_database(shared, folder, uids).await,
    }
}

/// A hash's bytes as the `BlobHash` (hex digits) records carry.
fn hex(hash: &[u8; 32]) -> BlobHash {
    BlobHash(blake3::Hash::from_bytes(*hash).to_hex().to_string())
}

fn entries_from_view(view: &FolderView, uids: &[Uid]) -> Vec<(MessageSummary, [u8; 32])> {
    let mut wanted = uids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
        .into_iter()
        .filter_map(|uid| {
            let i = view.messages.binary_search_by_key(&uid, |m| m.uid).ok()?;
            Some((view.messages[i].clone(), *view.hashes.get(i)?))
        })
        .collect()
}

async fn entries_from_database(
    shared: &Shared,
    folder: FolderId,
    uids: &[Uid],
) -> Result<Vec<(MessageSummary, [u8; 32])>> {
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
    rows.iter()
        .map(|row| {
            let hash: String = row.try_get(rows::SUMMARY_COLUMNS).map_err(db)?;
            Ok((summary_from_row(row)?, hash_of_row(&hash)?))
        })
        .collect()
}

/// A `message_hash` column's bytes; a value that is not a hash means the database is damaged.
fn hash_of_row(hash: &str) -> Result<[u8; 32]> {
    crate::hash_bytes(hash)
        .ok_or_else(|| StoreError::Unavailable("database corrupted: message hash".into()))
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

/// From the cached view when it is current and remembers the expunges since `modseq` (no
/// query: the commonest case, a session catching up after its own APPEND or EXPUNGE);
/// otherwise from the database.
pub(super) async fn changes_since(
    shared: &Shared,
    folder: FolderId,
    modseq: ModSeq,
) -> Result<FolderChanges> {
    if let Some(changes) = shared.views.changes_since(&shared.heads, folder, modseq) {
        return Ok(changes);
    }
    let (read, heads) = (&shared.read, &shared.heads);
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
    let mut expunged: Vec<Uid> = expunged.into_iter().map(|(_, uid)| uid).collect();
    expunged.sort_unstable();
    Ok(FolderChanges {
        changed: changed.into_iter().map(|(m, _, _)| m).collect(),
        expunged,
        highest_modseq,
        uidnext: rows::to_uid(head.try_get(0).map_err(db)?)?,
    })
}
