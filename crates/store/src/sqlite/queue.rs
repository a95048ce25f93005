//! The outbound queue in SQLite: messages waiting for other mail systems, one row per
//! recipient (schema in `migrations/0002_queue.sql`).
//!
//! Keeps true:
//! - `enqueue` returns only after its transaction committed on the write connection
//!   (`synchronous=FULL`: the WAL is fsynced), so a queued message survives a crash.
//! - Group commit, as for deliveries (`deliver.rs`): `enqueue`, `record_attempt` and
//!   `delete_queued` send their write over a channel to one queue writer task, which runs
//!   everything waiting (up to [`MAX_QUEUE_BATCH`]) in ONE transaction, each write all or
//!   nothing (a failing one is undone alone: one statement is atomic by itself, several share
//!   a savepoint), commits (one fsync for the batch) and only then answers each caller. Every
//!   `Ok` still means durable; under load a submission and the deletes of delivered messages
//!   share an fsync instead of paying one each.
//! - Few calls per write: each statement is a round trip to the SQLite connection's thread
//!   (two thread wake-ups), which in bench/smtp-relay cost more CPU than the SQL itself. A
//!   delete or an attempt record is one call; an enqueue two (its savepoint rides with the
//!   inserts); `delete_queued_if_finished` checks and deletes in one statement, so the worker
//!   needs no read of the message after delivering it.
//! - Claiming selects due rows and sets their `locked_until` lease inside the queue writer's
//!   batch transaction (`BEGIN IMMEDIATE`), so it shares the commit (and its fsync) with the
//!   enqueues and deletes waiting beside it instead of paying its own; the claimed rows are
//!   handed out only after that commit. SQLite has one writer at a time, so two workers
//!   (even in two processes sharing the file) never claim the same recipient while its
//!   lease runs.
//! - `record_attempt` changes only a `pending` row: a recipient delivered or failed stays
//!   so (a late answer from a worker whose lease ran out cannot resurrect it).

use super::Shared;
use super::rows::db;
use crate::{
    AttemptOutcome, BlobHash, NewQueuedMessage, QueueAttempt, QueueEntry, QueueId, QueueRecipient,
    QueueStatus, Result, StoreError,
};
use sqlx::Connection;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most queue writes in one transaction: bounds how long a batch holds the write connection
/// (deliveries wait for it meanwhile) while amortising the fsync.
pub const MAX_QUEUE_BATCH: usize = 256;
/// Queue writes waiting for the writer; callers wait beyond this (back-pressure).
pub(super) const QUEUE_WRITES: usize = 4096;

/// One queue write waiting for the queue writer, and where to send its outcome.
pub(super) enum QueueWrite {
    Enqueue {
        message: NewQueuedMessage,
        recipients: Vec<(String, String)>,
        reply: oneshot::Sender<Result<QueueId>>,
    },
    Attempt {
        attempt: QueueAttempt,
        reply: oneshot::Sender<Result<()>>,
    },
    Delete {
        id: QueueId,
        reply: oneshot::Sender<Result<()>>,
    },
    DeleteIfFinished {
        id: QueueId,
        /// JSON array of the recipient ids the caller just finished.
        finished: String,
        reply: oneshot::Sender<Result<bool>>,
    },
    Claim {
        now: i64,
        limit: i64,
        until: i64,
        reply: oneshot::Sender<Result<Vec<QueueEntry>>>,
    },
}

/// What one write produced, before it is sent back to its caller.
enum Outcome {
    Id(Result<QueueId>),
    Done(Result<()>),
    Removed(Result<bool>),
    Claimed(Result<Vec<QueueEntry>>),
}

impl QueueWrite {
    /// Runs the write inside the batch transaction, all or nothing: a single statement is
    /// atomic by itself (its foreign-key cascades included), and the writes of several
    /// statements keep a savepoint of their own. The outer error means the connection is in
    /// an unknown state and the whole batch must be rolled back.
    async fn run(
        &self,
        conn: &mut SqliteConnection,
        blobs: Option<&Arc<dyn crate::BlobStore>>,
    ) -> Result<Outcome> {
        Ok(match self {
            QueueWrite::Enqueue {
                message,
                recipients,
                ..
            } => Outcome::Id(insert_queued(conn, blobs, message, recipients).await?),
            QueueWrite::Attempt { attempt, .. } => {
                Outcome::Done(update_attempt(conn, attempt).await)
            }
            QueueWrite::Delete { id, .. } => Outcome::Done(delete_row(conn, *id).await),
            QueueWrite::DeleteIfFinished { id, finished, .. } => {
                Outcome::Removed(delete_row_if_finished(conn, *id, finished).await)
            }
            QueueWrite::Claim {
                now, limit, until, ..
            } => {
                let mut savepoint = conn.begin().await.map_err(db)?;
                let claimed = claim_rows(&mut savepoint, *now, *limit, *until).await;
                if claimed.is_ok() {
                    savepoint.commit().await.map_err(db)?;
                } else {
                    savepoint.rollback().await.map_err(db)?;
                }
                Outcome::Claimed(claimed)
            }
        })
    }

    fn failed(&self, error: &StoreError) -> Outcome {
        let e = StoreError::Unavailable(error.to_string());
        match self {
            QueueWrite::Enqueue { .. } => Outcome::Id(Err(e)),
            QueueWrite::Claim { .. } => Outcome::Claimed(Err(e)),
            QueueWrite::DeleteIfFinished { .. } => Outcome::Removed(Err(e)),
            _ => Outcome::Done(Err(e)),
        }
    }

    /// Answers the caller; one that has gone (a dropped session) is not an error: the write
    /// is committed all the same.
    fn answer(self, outcome: Outcome) {
        match (self, outcome) {
            (QueueWrite::Enqueue { reply, .. }, Outcome::Id(r)) => {
                let _ = reply.send(r);
            }
            (
                QueueWrite::Attempt { reply, .. } | QueueWrite::Delete { reply, .. },
                Outcome::Done(r),
            ) => {
                let _ = reply.send(r);
            }
            (QueueWrite::Claim { reply, .. }, Outcome::Claimed(r)) => {
                let _ = reply.send(r);
            }
            (QueueWrite::DeleteIfFinished { reply, .. }, Outcome::Removed(r)) => {
                let _ = reply.send(r);
            }
            // `run` and `failed` give every write the outcome of its own kind.
            _ => unreachable!("queue write answered with the outcome of another kind"),
        }
    }
}

/// Sends a write to the queue writer and waits until it is committed (or refused).
async fn submit<T>(
    writes: &mpsc::Sender<QueueWrite>,
    write: QueueWrite,
    answer: oneshot::Receiver<Result<T>>,
) -> Result<T> {
    writes
        .send(write)
        .await
        .map_err(|_| StoreError::Unavailable("queue writer stopped".into()))?;
    answer
        .await
        .map_err(|_| StoreError::Unavailable("queue writer stopped before answering".into()))?
}

/// The queue writer task: runs until every sender is gone.
pub(super) async fn run_writer(shared: Arc<Shared>, mut writes: mpsc::Receiver<QueueWrite>) {
    let mut batch = Vec::with_capacity(MAX_QUEUE_BATCH);
    loop {
        batch.clear();
        if writes.recv_many(&mut batch, MAX_QUEUE_BATCH).await == 0 {
            return;
        }
        let mut conn = shared.write.lock().await;
        let outcomes = commit_batch(&mut conn, &batch, shared.blobs.get()).await;
        drop(conn);
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, writes = batch.len(), "queue write batch failed");
                batch.iter().map(|w| w.failed(&e)).collect()
            }
        };
        for (write, outcome) in batch.drain(..).zip(outcomes) {
            write.answer(outcome);
        }
    }
}

/// Runs the batch in one transaction. The outer error means the whole batch failed (the
/// transaction could not begin or commit); inner errors are per write.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[QueueWrite],
    blobs: Option<&Arc<dyn crate::BlobStore>>,
) -> Result<Vec<Outcome>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for write in batch {
        outcomes.push(write.run(&mut tx, blobs).await?);
    }
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

/// The message and recipient columns `group_entries` reads, in this order.
macro_rules! select_queue {
    ($rest:literal) => {
        concat!(
            "SELECT m.id, m.blob_hash, m.mail_from, m.created_at, m.submitted_by, \
             r.id, r.address, r.domain, r.status, r.attempts, r.next_attempt_at, r.last_attempt_at, \
             r.last_error, r.remote_host, r.remote_response, r.delay_warned \
             FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id ",
            $rest
        )
    };
}

/// The lowercase domain of an address, or `Invalid` when it has none.
fn domain_of(address: &str) -> Result<String> {
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            Ok(domain.to_ascii_lowercase())
        }
        _ => Err(StoreError::Invalid(format!(
            "queued recipient {address:?} is not an address (local@domain)"
        ))),
    }
}

pub(super) async fn enqueue(
    writes: &mpsc::Sender<QueueWrite>,
    message: NewQueuedMessage,
) -> Result<QueueId> {
    if message.recipients.is_empty() {
        return Err(StoreError::Invalid(
            "a queued message needs at least one recipient".into(),
        ));
    }
    let mut recipients = Vec::with_capacity(message.recipients.len());
    for address in &message.recipients {
        recipients.push((address.clone(), domain_of(address)?));
    }
    let (reply, answer) = oneshot::channel();
    let write = QueueWrite::Enqueue {
        message,
        recipients,
        reply,
    };
    submit(writes, write, answer).await
}

/// Recipient rows per INSERT statement (4 parameters each, far below SQLite's limit).
const RECIPIENT_ROWS_PER_INSERT: usize = 100;

/// Inserts one queued message and its recipients, inside the writer's batch transaction and
/// under a savepoint of its own, so that a failure leaves nothing of it. The savepoint
/// statements travel with the inserts (`SAVEPOINT …; INSERT …` is one call to the SQLite
/// thread), so a message with up to [`RECIPIENT_ROWS_PER_INSERT`] recipients costs two
/// calls instead of four. The inner `Result` is the caller's answer; the outer error means
/// the savepoint could not be rolled back (the batch is abandoned).
async fn insert_queued(
    conn: &mut SqliteConnection,
    blobs: Option<&Arc<dyn crate::BlobStore>>,
    message: &NewQueuedMessage,
    recipients: &[(String, String)],
) -> Result<Result<QueueId>> {
    // Garbage collection may have removed the file after the caller's `put` (garbage.rs).
    // Checked here, inside the write transaction that adds the reference, for every message
    // of the batch: collection cannot run between this check and the commit.
    if blobs.is_some_and(|b| !b.contains(&message.blob)) {
        return Ok(Err(StoreError::Unavailable(format!(
            "the message file {} was removed while it was being queued; try again",
            message.blob
        ))));
    }
    match insert_message_rows(conn, message, recipients).await {
        Ok(id) => Ok(Ok(id)),
        Err(error) => {
            sqlx::raw_sql("ROLLBACK TO queue_enqueue; RELEASE queue_enqueue")
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            Ok(Err(error))
        }
    }
}

/// The statements of [`insert_queued`]; on error the savepoint `queue_enqueue` may be open.
async fn insert_message_rows(
    conn: &mut SqliteConnection,
    message: &NewQueuedMessage,
    recipients: &[(String, String)],
) -> Result<QueueId> {
    // The message row is the last insert of the call, so its id is the call's last rowid
    // (the single writer connection runs nothing in between).
    let id = sqlx::query(
        "SAVEPOINT queue_enqueue; \
         INSERT INTO queue_messages (blob_hash, mail_from, created_at, submitted_by) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(&message.blob.0)
    .bind(&message.mail_from)
    .bind(message.created_at)
    .bind(message.submitted_by.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .last_insert_rowid();
    let chunks: Vec<&[(String, String)]> = recipients.chunks(RECIPIENT_ROWS_PER_INSERT).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut sql = String::from(
            "INSERT INTO queue_recipients (message_id, address, domain, next_attempt_at) VALUES ",
        );
        for j in 0..chunk.len() {
            sql.push_str(if j == 0 {
                "(?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?)"
            });
        }
        sql.push_str(" ON CONFLICT (message_id, address) DO NOTHING");
        if i + 1 == chunks.len() {
            sql.push_str("; RELEASE queue_enqueue");
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (address, domain) in chunk.iter() {
            query = query
                .bind(id)
                .bind(address)
                .bind(domain)
                .bind(message.created_at);
        }
        query.execute(&mut *conn).await.map_err(db)?;
    }
    Ok(id)
}

pub(super) async fn claim_due(
    writes: &mpsc::Sender<QueueWrite>,
    now: i64,
    limit: usize,
    lease: Duration,
) -> Result<Vec<QueueEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let until = now.saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX).max(1));
    let (reply, answer) = oneshot::channel();
    let write = QueueWrite::Claim {
        now,
        limit,
        until,
        reply,
    };
    submit(writes, write, answer).await
}

/// Sets the lease of up to `limit` due recipients and reads them back with their messages,
/// inside the writer's batch transaction.
async fn claim_rows(
    conn: &mut SqliteConnection,
    now: i64,
    limit: i64,
    until: i64,
) -> Result<Vec<QueueEntry>> {
    let rows = sqlx::query(
        "UPDATE queue_recipients SET locked_until = ? WHERE id IN ( \
           SELECT id FROM queue_recipients \
           WHERE status = 'pending' AND next_attempt_at <= ? AND locked_until <= ? \
           ORDER BY next_attempt_at, id LIMIT ?) \
         RETURNING id",
    )
    .bind(until)
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>(0).map_err(db)?);
    }
    let json = serde_json::to_string(&ids)
        .map_err(|e| StoreError::Invalid(format!("recipient ids: {e}")))?;
    let rows = sqlx::query(select_queue!(
        "WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY m.id, r.id"
    ))
    .bind(json)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    group_entries(&rows)
}

pub(super) async fn record_attempt(
    writes: &mpsc::Sender<QueueWrite>,
    attempt: QueueAttempt,
) -> Result<()> {
    let (reply, answer) = oneshot::channel();
    submit(writes, QueueWrite::Attempt { attempt, reply }, answer).await
}

async fn update_attempt(conn: &mut SqliteConnection, attempt: &QueueAttempt) -> Result<()> {
    let (status, error, next, warned) = match &attempt.outcome {
        AttemptOutcome::Delivered => (QueueStatus::Delivered, None, None, false),
        AttemptOutcome::Retry {
            error,
            next_attempt_at,
            delay_warned,
        } => (
            QueueStatus::Pending,
            Some(error.as_str()),
            Some(*next_attempt_at),
            *delay_warned,
        ),
        AttemptOutcome::Failed { error } => {
            (QueueStatus::Failed, Some(error.as_str()), None, false)
        }
    };
    let done = sqlx::query(
        "UPDATE queue_recipients SET status = ?, attempts = attempts + 1, \
         next_attempt_at = COALESCE(?, next_attempt_at), locked_until = 0, \
         last_attempt_at = ?, last_error = ?, remote_host = ?, remote_response = ?, \
         delay_warned = (delay_warned OR ?) \
         WHERE id = ? AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(next)
    .bind(attempt.at)
    .bind(error)
    .bind(attempt.remote_host.as_deref())
    .bind(attempt.remote_response.as_deref())
    .bind(warned)
    .bind(attempt.recipient)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "pending queue recipient {}",
            attempt.recipient
        )));
    }
    Ok(())
}

pub(super) async fn list_queue(read: &SqlitePool) -> Result<Vec<QueueEntry>> {
    let rows = sqlx::query(select_queue!("ORDER BY m.id, r.id"))
        .fetch_all(read)
        .await
        .map_err(db)?;
    group_entries(&rows)
}

pub(super) async fn queue_entry(read: &SqlitePool, id: QueueId) -> Result<Option<QueueEntry>> {
    let rows = sqlx::query(select_queue!("WHERE m.id = ? ORDER BY r.id"))
        .bind(id)
        .fetch_all(read)
        .await
        .map_err(db)?;
    Ok(group_entries(&rows)?.pop())
}

pub(super) async fn retry_now(shared: &Shared, id: QueueId) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
    let exists = sqlx::query("SELECT 1 FROM queue_messages WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    // A message parked by an outbound hold (R-POL-9) leaves only when the operator lifts the
    // hold (`release_outbound`, audited); a retry must not be a way round it.
    let held: Option<String> =
        sqlx::query_scalar("SELECT address FROM queue_holds WHERE message_id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    if let Some(address) = held {
        return Err(StoreError::Invalid(format!(
            "queued message {id} is held with the outbound mail of {address}; \
             lift the hold with `congvu queue release --address {address}`"
        )));
    }
    // `+status`: find the message's rows by (message_id, address), not every pending
    // recipient of the queue by `queue_recipients_due` (see `delete_row_if_finished`).
    sqlx::query(
        "UPDATE queue_recipients SET next_attempt_at = 0, locked_until = 0 \
         WHERE message_id = ? AND +status = 'pending'",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn delete_queued(writes: &mpsc::Sender<QueueWrite>, id: QueueId) -> Result<()> {
    let (reply, answer) = oneshot::channel();
    submit(writes, QueueWrite::Delete { id, reply }, answer).await
}

async fn delete_row(conn: &mut SqliteConnection, id: QueueId) -> Result<()> {
    // Recipients go with the message (ON DELETE CASCADE; foreign keys are on).
    let done = sqlx::query("DELETE FROM queue_messages WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(())
}

pub(super) async fn delete_if_finished(
    writes: &mpsc::Sender<QueueWrite>,
    id: QueueId,
    finished: &[crate::QueueRecipientId],
) -> Result<bool> {
    let finished = serde_json::to_string(finished)
        .map_err(|e| StoreError::Invalid(format!("recipient ids: {e}")))?;
    let (reply, answer) = oneshot::channel();
    let write = QueueWrite::DeleteIfFinished {
        id,
        finished,
        reply,
    };
    submit(writes, write, answer).await
}

/// One statement: the check that nothing else is pending and the delete cannot be told
/// apart by a concurrent claim or attempt (they go through the same writer anyway).
///
/// `+status` keeps SQLite from using the `(status, next_attempt_at)` index for the check:
/// without table statistics it preferred it to `UNIQUE (message_id, address)` and read every
/// pending recipient of the queue for each message sent (0.35 ms each with 10,000 queued,
/// bench/smtp-relay, and more the longer the queue). tests/queue_plans.rs checks the plan.
async fn delete_row_if_finished(
    conn: &mut SqliteConnection,
    id: QueueId,
    finished: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM queue_messages WHERE id = ? AND NOT EXISTS ( \
           SELECT 1 FROM queue_recipients WHERE message_id = ? AND +status = 'pending' \
           AND id NOT IN (SELECT value FROM json_each(?)))",
    )
    .bind(id)
    .bind(id)
    .bind(finished)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

/// Folds rows ordered by message id into one entry per message.
fn group_entries(rows: &[SqliteRow]) -> Result<Vec<QueueEntry>> {
    let mut entries: Vec<QueueEntry> = Vec::new();
    for row in rows {
        let id: QueueId = row.try_get(0).map_err(db)?;
        let recipient = recipient_from_row(row)?;
        match entries.last_mut() {
            Some(last) if last.id == id => last.recipients.push(recipient),
            _ => entries.push(QueueEntry {
                id,
                blob: BlobHash(row.try_get(1).map_err(db)?),
                mail_from: row.try_get(2).map_err(db)?,
                created_at: row.try_get(3).map_err(db)?,
                submitted_by: row.try_get(4).map_err(db)?,
                recipients: vec![recipient],
            }),
        }
    }
    Ok(entries)
}

fn recipient_from_row(row: &SqliteRow) -> Result<QueueRecipient> {
    let status: String = row.try_get(8).map_err(db)?;
    let attempts: i64 = row.try_get(9).map_err(db)?;
    Ok(QueueRecipient {
        id: row.try_get(5).map_err(db)?,
        address: row.try_get(6).map_err(db)?,
        domain: row.try_get(7).map_err(db)?,
        status: QueueStatus::from_token(&status).ok_or_else(|| {
            StoreError::Unavailable(format!("database corrupted: queue status {status:?}"))
        })?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: row.try_get(10).map_err(db)?,
        last_attempt_at: row.try_get(11).map_err(db)?,
        last_error: row.try_get(12).map_err(db)?,
        remote_host: row.try_get(13).map_err(db)?,
        remote_response: row.try_get(14).map_err(db)?,
        delay_warned: row.try_get(15).map_err(db)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lowercased_and_required() {
        assert_eq!(domain_of("a@Example.VN").ok(), Some("example.vn".into()));
        assert_eq!(domain_of("\"a@b\"@x.vn").ok(), Some("x.vn".into()));
        assert!(domain_of("nobody").is_err());
        assert!(domain_of("@x.vn").is_err());
        assert!(domain_of("a@").is_err());
    }
}
