//! Garbage collection of message bodies: the index row and the file of every message that no
//! mailbox, queued message or quarantined message holds any more (after a mailbox is purged,
//! a message purged, or the last copy expunged).
//!
//! The hazard is a delivery of the same bytes racing the collection: its `put` finds the file
//! present (so writes nothing), the collector deletes the file, then the delivery commits a
//! reference to a file that is gone. What keeps that from happening:
//! - Files are only deleted inside a write transaction (`BEGIN IMMEDIATE`, which also excludes
//!   other processes such as the CLI), after checking again that nothing references the hash.
//! - Every new reference checks, inside its own write transaction, that the file is there
//!   (`Shared::blobs`, set by `SqliteStore::guard_blobs`): a delivery that inserts a *new*
//!   message row (`deliver.rs`) and a queued message (`queue.rs`). So a reference committed
//!   before the deletion makes the collector keep the file, and one committed after it sees
//!   the file missing and fails with a temporary error; the client sends again and the
//!   `put` writes the file anew.
//!
//! Two phases, so that the deletion of a large purge never holds the write lock for long:
//! the first moves unreferenced message rows to `blob_garbage` (one transaction); the second
//! deletes their files in batches of [`BATCH`], each in its own write transaction.

use super::Shared;
use super::rows::db;
use crate::{BlobHash, BlobStore, Garbage, Result};
use sqlx::{Connection, Row};

/// Files deleted per write transaction.
const BATCH: i64 = 256;

/// The places that hold a blob besides a message row, as an SQL condition on the hash in
/// the given column: a hash found in any of them is kept. A macro so that every query stays
/// one static string.
macro_rules! still_referenced {
    ($hash:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM mailbox_entries e WHERE e.message_hash = ",
            $hash,
            ") OR EXISTS (SELECT 1 FROM queue_messages q WHERE q.blob_hash = ",
            $hash,
            ") OR EXISTS (SELECT 1 FROM quarantine r WHERE r.blob_hash = ",
            $hash,
            "))"
        )
    };
}

/// Message rows in `blob_garbage` that nothing references. A hash left there by an earlier
/// collection that failed may be held again by now: only rows nothing references go.
macro_rules! unreferenced_in_garbage {
    () => {
        concat!(
            "hash IN (SELECT hash FROM blob_garbage) AND NOT ",
            still_referenced!("messages.hash")
        )
    };
}

pub(super) async fn collect(shared: &Shared, blobs: &dyn BlobStore, now: i64) -> Result<Garbage> {
    let mut garbage = Garbage::default();
    {
        let mut conn = shared.write.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        sqlx::query(concat!(
            "INSERT INTO blob_garbage (hash, since) SELECT hash, ? FROM messages WHERE NOT ",
            still_referenced!("messages.hash"),
            " ON CONFLICT (hash) DO NOTHING"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(concat!(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages WHERE ",
            unreferenced_in_garbage!()
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        garbage.messages = row.try_get::<i64, _>(0).map_err(db)? as u64;
        garbage.bytes = row.try_get::<i64, _>(1).map_err(db)? as u64;
        sqlx::query(concat!(
            "DELETE FROM messages WHERE ",
            unreferenced_in_garbage!()
        ))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    while delete_batch(shared, blobs).await? {}
    Ok(garbage)
}

/// Deletes the files of one batch of `blob_garbage`; false once it is empty.
async fn delete_batch(shared: &Shared, blobs: &dyn BlobStore) -> Result<bool> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let rows = sqlx::query(concat!(
        "SELECT g.hash, (EXISTS (SELECT 1 FROM messages m WHERE m.hash = g.hash) OR ",
        still_referenced!("g.hash"),
        ") FROM blob_garbage g LIMIT ?"
    ))
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    if rows.is_empty() {
        return Ok(false);
    }
    for row in rows {
        let hash: String = row.try_get(0).map_err(db)?;
        let referenced: bool = row.try_get(1).map_err(db)?;
        if !referenced {
            // A failure here leaves the row for the next collection, and the transaction
            // (and so the lock) ends with the error.
            blobs.delete(&BlobHash(hash.clone())).await?;
            // A purged message leaves nothing of itself in memory either.
            if let Some(key) = crate::hash_bytes(&hash) {
                shared.indexes.remove(&key);
                shared.header_texts.remove(&key);
            }
        }
        sqlx::query("DELETE FROM blob_garbage WHERE hash = ?")
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(true)
}
