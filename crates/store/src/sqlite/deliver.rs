//! Delivery with group commit: the hot path of SMTP, APPEND and webmail send.
//!
//! Every `deliver` call sends its delivery over a channel to one writer task. The writer
//! takes everything queued (up to [`MAX_BATCH`]), indexes it all in ONE transaction on the
//! write connection, commits (one fsync for the whole batch), then answers each caller.
//! While one batch is being fsynced the next one queues, so throughput grows with load while
//! every `Ok` still means "on stable storage" (DESIGN.md "Durability").
//!
//! What this keeps true:
//! - A delivery is all or nothing: each runs inside its own SAVEPOINT, so one that fails
//!   (an unknown folder, an account without Junk) is rolled back alone and the others in its
//!   batch still commit.
//! - A caller is answered only after the commit that holds its delivery (or its failure).
//! - Notifications go out after the commit, one per folder per batch, with the folder's
//!   highest MODSEQ.

use super::Shared;
use super::rows::{self, allocate, db};
use crate::{
    BlobStore, Delivered, Delivery, DeliveryTarget, FolderChange, FolderId, FolderTarget, Result,
    StoreError,
};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// Most deliveries in one transaction: bounds the time a batch holds the write connection
/// (and so the latency of other writes) while amortising the fsync.
pub const MAX_BATCH: usize = 256;

/// One delivery waiting for the writer, and where to send its outcome.
pub(super) struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Vec<Delivered>>>,
}

/// Queues a delivery and waits until it is committed (or refused).
pub(super) async fn submit(
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
    let (reply, answer) = oneshot::channel();
    queue
        .send(Pending { delivery, reply })
        .await
        .map_err(|_| StoreError::Unavailable("delivery writer stopped".into()))?;
    answer
        .await
        .map_err(|_| StoreError::Unavailable("delivery writer stopped before answering".into()))?
}

/// The writer task: runs until every sender is gone.
pub(super) async fn run_writer(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        batch.clear();
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let mut conn = shared.write.lock().await;
        let outcome = commit_batch(&mut conn, &batch, shared.blobs.get()).await;
        drop(conn);
        let results = match outcome {
            Ok(results) => {
                shared.batches.fetch_add(1, Ordering::Relaxed);
                shared
                    .batched_deliveries
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                results
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = batch.len(), "delivery batch failed");
                batch
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(e.to_string())))
                    .collect()
            }
        };
        let mut changed: BTreeMap<FolderId, FolderChange> = BTreeMap::new();
        for result in results.iter().flatten() {
            for d in result {
                let change = FolderChange {
                    account: d.account,
                    folder: d.folder,
                    modseq: d.modseq,
                };
                changed
                    .entry(d.folder)
                    .and_modify(|c| c.modseq = c.modseq.max(d.modseq))
                    .or_insert(change);
            }
        }
        for (pending, result) in batch.drain(..).zip(results) {
            // The caller may have gone (connection dropped): its mail is stored all the same.
            let _ = pending.reply.send(result);
        }
        shared.notify(changed.into_values());
    }
}

/// Runs the batch in one transaction. The outer error means the whole batch failed (the
/// transaction could not begin or commit); inner errors are per delivery.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[Pending],
    blobs: Option<&Arc<dyn BlobStore>>,
) -> Result<Vec<Result<Vec<Delivered>>>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut results = Vec::with_capacity(batch.len());
    for pending in batch {
        let mut savepoint = tx.begin().await.map_err(db)?;
        match index_delivery(&mut savepoint, &pending.delivery, blobs).await {
            Ok(delivered) => {
                savepoint.commit().await.map_err(db)?;
                results.push(Ok(delivered));
            }
            Err(e) => {
                savepoint.rollback().await.map_err(db)?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(results)
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
