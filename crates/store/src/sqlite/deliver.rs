//! The mailbox writer: group commit for delivery (SMTP, APPEND, webmail send) and for the
//! IMAP/POP3 mutations beside it (STORE, EXPUNGE).
//!
//! Every `deliver`, `store_flags` and `expunge` call sends its write over a channel to one
//! writer task. The writer takes everything queued (up to [`MAX_BATCH`]), applies it all in
//! ONE transaction on the write connection, commits (one fsync for the whole batch), then
//! answers each caller. While one batch is being fsynced the next one queues, so throughput
//! grows with load while every `Ok` still means "on stable storage" (DESIGN.md "Durability").
//!
//! What this keeps true:
//! - A write is all or nothing: each runs inside its own SAVEPOINT, so one that fails (an
//!   unknown folder, an account without Junk, a bad keyword) is rolled back alone and the
//!   others in its batch still commit. A STORE of one message, whose one change is a single
//!   statement, runs without one.
//! - Writes to one folder are applied in the order they were queued, each under its own new
//!   MODSEQ (`rows::allocate`), so MODSEQs still strictly increase per change.
//! - A caller is answered only after the commit that holds its write (or its failure), and
//!   only after the change was recorded in `Shared::notify` (the folder heads a session
//!   consults before `changes_since`, and the broadcast IDLE listens to), so a session that
//!   changed its folder sees its own change in the sync that follows.
//! - Notifications go out after the commit, one per folder per batch, with the folder's
//!   highest MODSEQ.

use super::Shared;
use super::flags::{self, FlagChange};
use super::messages;
use super::read::{ViewDelta, ViewEntry};
use super::rows::{self, allocate, db};
use crate::{
    BlobStore, Delivered, Delivery, DeliveryTarget, FolderChange, FolderId, FolderTarget,
    MessageSummary, ModSeq, Result, StoreError, StoreFlagsResult, Uid,
};
use congvu_core::Flags;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// Most writes in one transaction: bounds the time a batch holds the write connection
/// (and so the latency of other writes) while amortising the fsync.
pub const MAX_BATCH: usize = 256;

/// Where a write's outcome goes.
type Reply<T> = oneshot::Sender<Result<T>>;

/// One write waiting for the writer, and where to send its outcome.
pub(super) enum Pending {
    Deliver(Delivery, Reply<Vec<Delivered>>),
    Flags(FlagChange, Reply<StoreFlagsResult>),
    Expunge(FolderId, Option<Vec<Uid>>, Reply<Vec<Uid>>),
}

/// Sends a write's outcome: what it did once the batch committed, or the batch's failure.
type Answer = Box<dyn FnOnce(Option<&StoreError>) + Send>;

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T>) -> Answer {
    Box::new(move |batch_failed: Option<&StoreError>| {
        let result = match batch_failed {
            None => result,
            Some(e) => Err(StoreError::Unavailable(e.to_string())),
        };
        // The caller may have gone (connection dropped): the write stands all the same.
        let _ = reply.send(result);
    })
}

/// Queues a write and waits until it is committed (or refused).
async fn submit<T>(
    queue: &mpsc::Sender<Pending>,
    pending: impl FnOnce(Reply<T>) -> Pending,
) -> Result<T> {
    let (reply, outcome) = oneshot::channel();
    queue
        .send(pending(reply))
        .await
        .map_err(|_| StoreError::Unavailable("mailbox writer stopped".into()))?;
    outcome
        .await
        .map_err(|_| StoreError::Unavailable("mailbox writer stopped before answering".into()))?
}

/// Queues a delivery and waits until it is committed (or refused).
pub(super) async fn deliver(
    queue: &mpsc::Sender<Pending>,
    delivery: Delivery,
) -> Result<Vec<Delivered>> {
    if delivery.targets.is_empty() {
        return Err(StoreError::Invalid(
            "delivery without a target mailbox".into(),
        ));
    }
    for target in &delivery.targets {
        rows::check_keywords(&target.flags)?;
    }
    submit(queue, |reply| Pending::Deliver(delivery, reply)).await
}

/// Queues a STORE and waits until it is committed (or refused).
pub(super) async fn store_flags(
    queue: &mpsc::Sender<Pending>,
    change: FlagChange,
) -> Result<StoreFlagsResult> {
    rows::check_keywords(&change.flags)?;
    submit(queue, |reply| Pending::Flags(change, reply)).await
}

/// Queues an EXPUNGE and waits until it is committed (or refused).
pub(super) async fn expunge(
    queue: &mpsc::Sender<Pending>,
    folder: FolderId,
    uids: Option<Vec<Uid>>,
) -> Result<Vec<Uid>> {
    submit(queue, |reply| Pending::Expunge(folder, uids, reply)).await
}

/// The writer task: runs until every sender is gone.
pub(super) async fn run_writer(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let deliveries = batch
            .iter()
            .filter(|p| matches!(p, Pending::Deliver(..)))
            .count() as u64;
        let count = batch.len();
        let mut conn = shared.write.lock().await;
        let mut done = Applied::default();
        let outcome = commit_batch(&mut conn, batch.drain(..), shared.blobs.get(), &mut done).await;
        drop(conn);
        match &outcome {
            Ok(()) => {
                shared.write_batches.fetch_add(1, Ordering::Relaxed);
                shared
                    .batched_writes
                    .fetch_add(count as u64, Ordering::Relaxed);
                if deliveries > 0 {
                    shared.batches.fetch_add(1, Ordering::Relaxed);
                    shared
                        .batched_deliveries
                        .fetch_add(deliveries, Ordering::Relaxed);
                }
                // Views first: a reader told of the new MODSEQ then finds the view current.
                shared.views.advance(done.deltas);
                shared.notify(done.changed.into_values());
            }
            Err(e) => tracing::error!(error = %e, writes = count, "mailbox write batch failed"),
        }
        for answer in done.answers {
            answer(outcome.as_ref().err());
        }
    }
}

/// What a batch did: an answer per write, the newest change of each folder, and what each
/// write changed in its folder's entries (for the cached views), in commit order.
#[derive(Default)]
struct Applied {
    answers: Vec<Answer>,
    changed: BTreeMap<FolderId, FolderChange>,
    deltas: Vec<(FolderId, ModSeq, ViewDelta)>,
}

impl Applied {
    fn note(&mut self, changes: impl IntoIterator<Item = FolderChange>) {
        for change in changes {
            self.changed
                .entry(change.folder)
                .and_modify(|c| c.modseq = c.modseq.max(change.modseq))
                .or_insert(change);
        }
    }
}

/// Runs the batch in one transaction, each write in its own SAVEPOINT. The error means the
/// whole batch failed (the transaction could not begin or commit): every write not yet in
/// `done` is then answered with that error directly, those in it by the caller.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: impl Iterator<Item = Pending>,
    blobs: Option<&Arc<dyn BlobStore>>,
    done: &mut Applied,
) -> Result<()> {
    let mut batch = batch;
    let result = async {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for pending in batch.by_ref() {
            // A STORE of one message needs no savepoint: after its MODSEQ is taken, its one
            // change is a single UPDATE, which SQLite applies whole or not at all; if that
            // fails, the MODSEQ taken is only a gap, which RFC 7162 §3.1 allows. (Two
            // round trips to SQLite's thread fewer for the commonest write.)
            let pending = match pending {
                Pending::Flags(change, reply) if change.uids.len() == 1 => {
                    let result = flags::apply(&mut tx, &change).await;
                    let deltas = flag_deltas(change.folder, &result);
                    let (ok, changes, reply) = split(result, reply);
                    done.answers.push(reply);
                    if ok {
                        done.note(changes);
                        done.deltas.extend(deltas);
                    }
                    continue;
                }
                other => other,
            };
            let mut savepoint = tx.begin().await.map_err(db)?;
            let (ok, changes, reply, deltas) = match pending {
                Pending::Deliver(delivery, reply) => {
                    let r = index_delivery(&mut savepoint, &delivery, blobs).await;
                    let changes: Vec<FolderChange> = r.iter().flatten().map(change_of).collect();
                    let deltas = r
                        .as_ref()
                        .map(|d| delivery_deltas(&delivery, d))
                        .unwrap_or_default();
                    (r.is_ok(), changes, answer(reply, r), deltas)
                }
                Pending::Flags(change, reply) => {
                    let r = flags::apply(&mut savepoint, &change).await;
                    let deltas = flag_deltas(change.folder, &r);
                    let (ok, changes, reply) = split(r, reply);
                    (ok, changes, reply, deltas)
                }
                Pending::Expunge(folder, uids, reply) => {
                    let r = messages::apply_expunge(&mut savepoint, folder, uids.as_deref()).await;
                    let deltas = match &r {
                        Ok((gone, changes)) => changes
                            .iter()
                            .map(|c| (folder, c.modseq, ViewDelta::Expunged(gone.clone())))
                            .collect(),
                        Err(_) => Vec::new(),
                    };
                    let (ok, changes, reply) = split(r, reply);
                    (ok, changes, reply, deltas)
                }
            };
            done.answers.push(reply);
            if ok {
                savepoint.commit().await.map_err(db)?;
                done.note(changes);
                done.deltas.extend(deltas);
            } else {
                savepoint.rollback().await.map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)
    }
    .await;
    if let Err(e) = &result {
        // Writes the failure stopped before they were tried.
        for pending in batch {
            refuse(pending, e);
        }
    }
    result
}

/// Answers a write that was never tried with the failure of its batch.
fn refuse(pending: Pending, e: &StoreError) {
    let failure = || StoreError::Unavailable(e.to_string());
    let _ = match pending {
        Pending::Deliver(_, reply) => reply.send(Err(failure())).is_ok(),
        Pending::Flags(_, reply) => reply.send(Err(failure())).is_ok(),
        Pending::Expunge(_, _, reply) => reply.send(Err(failure())).is_ok(),
    };
}

/// A write's result split into success, its changes, and its answer.
fn split<T: Send + 'static>(
    result: Result<(T, Vec<FolderChange>)>,
    reply: Reply<T>,
) -> (bool, Vec<FolderChange>, Answer) {
    match result {
        Ok((value, changes)) => (true, changes, answer(reply, Ok(value))),
        Err(e) => (false, Vec::new(), answer(reply, Err(e))),
    }
}

/// The view delta of a STORE: the messages it changed, at the MODSEQ they took.
fn flag_deltas(
    folder: FolderId,
    result: &Result<(StoreFlagsResult, Vec<FolderChange>)>,
) -> Vec<(FolderId, ModSeq, ViewDelta)> {
    let Ok((
        StoreFlagsResult {
            updated,
            modseq: Some(modseq),
            ..
        },
        _,
    )) = result
    else {
        return Vec::new();
    };
    let changed = updated.iter().filter(|m| m.modseq == *modseq).cloned();
    vec![(folder, *modseq, ViewDelta::Flags(changed.collect()))]
}

/// The view deltas of a delivery: one new entry per mailbox it went to, as
/// `read::select_view_entries!` would read it back.
fn delivery_deltas(
    delivery: &Delivery,
    delivered: &[Delivered],
) -> Vec<(FolderId, ModSeq, ViewDelta)> {
    // Without the hash's bytes there is no delta, so the folder's view stops at the MODSEQ
    // before and is refreshed from the database.
    let Some(hash) = crate::hash_bytes(&delivery.blob.0) else {
        return Vec::new();
    };
    delivery
        .targets
        .iter()
        .zip(delivered)
        .map(|(target, d)| {
            let summary = MessageSummary {
                uid: d.uid,
                modseq: d.modseq,
                flags: Flags::from_columns(target.flags.system, &target.flags.keywords_column()),
                internal_date: delivery.internal_date,
                size: delivery.index.size,
            };
            let entry: ViewEntry = (summary, delivery.index.sent_at, hash);
            (d.folder, d.modseq, ViewDelta::Added(entry))
        })
        .collect()
}

fn change_of(d: &Delivered) -> FolderChange {
    FolderChange {
        account: d.account,
        folder: d.folder,
        modseq: d.modseq,
    }
}

/// Indexes one delivery: the message row once, then one mailbox entry per target.
async fn index_delivery(
    conn: &mut SqliteConnection,
    delivery: &Delivery,
    blobs: Option<&Arc<dyn BlobStore>>,
) -> Result<Vec<Delivered>> {
    let new_message = insert_message(conn, &delivery.blob.0, &delivery.index).await?;
    // A new message row is the one case where garbage collection may have removed the file
    // after the caller's `put` found it present (garbage.rs): refuse rather than commit an
    // entry without a body. The caller answers with a temporary failure and the client retries.
    if new_message && blobs.is_some_and(|b| !b.contains(&delivery.blob)) {
        return Err(StoreError::Unavailable(format!(
            "the message file {} was removed while it was being delivered; try again",
            delivery.blob
        )));
    }
    let mut delivered = Vec::with_capacity(delivery.targets.len());
    for target in &delivery.targets {
        let folder = resolve_folder(conn, target).await?;
        let (uid, modseq) = allocate(conn, folder, 1).await?;
        sqlx::query(
            "INSERT INTO mailbox_entries (folder_id, uid, modseq, flags, keywords, internal_date, size, message_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(folder)
        .bind(i64::from(uid))
        .bind(rows::modseq_param(modseq))
        .bind(i64::from(target.flags.system))
        .bind(target.flags.keywords_column())
        .bind(delivery.internal_date)
        .bind(size_param(delivery.index.size)?)
        .bind(&delivery.blob.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        delivered.push(Delivered {
            account: target.account,
            folder,
            uid,
            modseq,
        });
    }
    Ok(delivered)
}

/// The folder a target names, checked to belong to the target's account.
async fn resolve_folder(conn: &mut SqliteConnection, target: &DeliveryTarget) -> Result<FolderId> {
    let row = match target.folder {
        FolderTarget::Special(special) => sqlx::query(
            "SELECT id FROM folders WHERE account_id = ? AND special_use = ? ORDER BY id LIMIT 1",
        )
        .bind(target.account)
        .bind(special.as_str())
        .fetch_optional(&mut *conn)
        .await,
        FolderTarget::Id(id) => {
            sqlx::query("SELECT id FROM folders WHERE account_id = ? AND id = ?")
                .bind(target.account)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
        }
    }
    .map_err(db)?;
    match row {
        Some(row) => sqlx::Row::try_get(&row, 0).map_err(db),
        None => Err(StoreError::NotFound(format!(
            "folder {:?} of account {}",
            target.folder, target.account
        ))),
    }
}

pub(super) fn size_param(size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| StoreError::Invalid("message too large".into()))
}

/// Stores the parsed index of a blob unless it is already there (a blob is indexed once
/// however many mailboxes hold it). True when the row is new.
pub(super) async fn insert_message(
    conn: &mut SqliteConnection,
    hash: &str,
    index: &congvu_wire::mime::MessageIndex,
) -> Result<bool> {
    let envelope = serde_json::to_string(&index.envelope)
        .map_err(|e| StoreError::Invalid(format!("envelope: {e}")))?;
    let structure = serde_json::to_string(&index.structure)
        .map_err(|e| StoreError::Invalid(format!("body structure: {e}")))?;
    let exact = &index.search_exact;
    let folded = &index.search_folded;
    let done = sqlx::query(
        "INSERT INTO messages (hash, size, sent_at, subject, from_display, message_id, has_attachments, \
         envelope, structure, \
         search_exact_subject, search_exact_from, search_exact_to, search_exact_cc, search_exact_bcc, search_exact_body, \
         search_folded_subject, search_folded_from, search_folded_to, search_folded_cc, search_folded_bcc, search_folded_body) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(hash)
    .bind(size_param(index.size)?)
    .bind(index.sent_at)
    .bind(&index.subject)
    .bind(&index.from_display)
    .bind(index.message_id.as_deref())
    .bind(index.has_attachments)
    .bind(envelope)
    .bind(structure)
    .bind(&exact.subject)
    .bind(&exact.from)
    .bind(&exact.to)
    .bind(&exact.cc)
    .bind(&exact.bcc)
    .bind(&exact.body)
    .bind(&folded.subject)
    .bind(&folded.from)
    .bind(&folded.to)
    .bind(&folded.cc)
    .bind(&folded.bcc)
    .bind(&folded.body)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}
