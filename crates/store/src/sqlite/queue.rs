//! The outbound queue in SQLite: messages waiting for other mail systems, one row per
//! recipient (schema in `migrations/0002_queue.sql`).
//!
//! Keeps true:
//! - `enqueue` returns only after its transaction committed on the write connection
//!   (`synchronous=FULL`: the WAL is fsynced), so a queued message survives a crash.
//! - Claiming is one `BEGIN IMMEDIATE` transaction that selects due rows and sets their
//!   `locked_until` lease; SQLite has one writer at a time, so two workers (even in two
//!   processes sharing the file) never claim the same recipient while its lease runs.
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
use sqlx::sqlite::{SqlitePool, SqliteRow};
use std::time::Duration;

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

pub(super) async fn enqueue(shared: &Shared, message: NewQueuedMessage) -> Result<QueueId> {
    if message.recipients.is_empty() {
        return Err(StoreError::Invalid(
            "a queued message needs at least one recipient".into(),
        ));
    }
    let mut recipients = Vec::with_capacity(message.recipients.len());
    for address in &message.recipients {
        recipients.push((address.as_str(), domain_of(address)?));
    }
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    // Garbage collection may have removed the file after the caller's `put` (garbage.rs).
    if shared
        .blobs
        .get()
        .is_some_and(|b| !b.contains(&message.blob))
    {
        return Err(StoreError::Unavailable(format!(
            "the message file {} was removed while it was being queued; try again",
            message.blob
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO queue_messages (blob_hash, mail_from, created_at, submitted_by) \
         VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(&message.blob.0)
    .bind(&message.mail_from)
    .bind(message.created_at)
    .bind(message.submitted_by.as_deref())
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?
    .try_get(0)
    .map_err(db)?;
    for (address, domain) in recipients {
        sqlx::query(
            "INSERT INTO queue_recipients (message_id, address, domain, next_attempt_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (message_id, address) DO NOTHING",
        )
        .bind(id)
        .bind(address)
        .bind(domain)
        .bind(message.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(id)
}

pub(super) async fn claim_due(
    shared: &Shared,
    now: i64,
    limit: usize,
    lease: Duration,
) -> Result<Vec<QueueEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let until = now.saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX).max(1));
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
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
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>(0).map_err(db)?);
    }
    let claimed = if ids.is_empty() {
        Vec::new()
    } else {
        let json = serde_json::to_string(&ids)
            .map_err(|e| StoreError::Invalid(format!("recipient ids: {e}")))?;
        let rows = sqlx::query(select_queue!(
            "WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY m.id, r.id"
        ))
        .bind(json)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        group_entries(&rows)?
    };
    tx.commit().await.map_err(db)?;
    Ok(claimed)
}

pub(super) async fn record_attempt(shared: &Shared, attempt: QueueAttempt) -> Result<()> {
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
    let conn = &mut *shared.write.lock().await;
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
    sqlx::query(
        "UPDATE queue_recipients SET next_attempt_at = 0, locked_until = 0 \
         WHERE message_id = ? AND status = 'pending'",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn delete_queued(shared: &Shared, id: QueueId) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
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
