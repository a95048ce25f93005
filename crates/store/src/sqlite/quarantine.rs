//! The quarantine and the look-up `purge` needs (migration 0011).
//!
//! Keeps true: a held message is in no mailbox; its row references the blob (and its message
//! row, so garbage collection knows the blob), so the blob stays as long as the row does; removing a row returns what was removed, once (a second
//! release of the same id is `NotFound`, never a second delivery).

use super::Shared;
use super::deliver::insert_message;
use super::rows::{db, to_uid};
use crate::{
    BlobHash, MessageKey, MessageLocation, NewQuarantined, QuarantineId, Quarantined, Result,
    StoreError,
};
use congvu_wire::mime::MessageIndex;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row};

/// The columns `from_row` reads, in this order (SQL text stays static).
macro_rules! columns {
    () => {
        "id, blob_hash, mail_from, recipients, reason, source, remote_ip, helo, message_id, \
         subject, quarantined_at"
    };
}

fn from_row(row: &SqliteRow) -> Result<Quarantined> {
    let recipients: String = row.try_get(3).map_err(db)?;
    let recipients: Vec<String> = serde_json::from_str(&recipients).map_err(|e| {
        StoreError::Unavailable(format!("database corrupted: quarantine recipients: {e}"))
    })?;
    Ok(Quarantined {
        id: row.try_get(0).map_err(db)?,
        message: NewQuarantined {
            blob: BlobHash(row.try_get(1).map_err(db)?),
            mail_from: row.try_get(2).map_err(db)?,
            recipients,
            reason: row.try_get(4).map_err(db)?,
            source: row.try_get(5).map_err(db)?,
            remote_ip: row.try_get(6).map_err(db)?,
            helo: row.try_get(7).map_err(db)?,
            message_id: row.try_get(8).map_err(db)?,
            subject: row.try_get(9).map_err(db)?,
            at: row.try_get(10).map_err(db)?,
        },
    })
}

pub(super) async fn quarantine(
    shared: &Shared,
    new: NewQuarantined,
    index: &MessageIndex,
) -> Result<Quarantined> {
    if new.recipients.is_empty() {
        return Err(StoreError::Invalid(
            "a quarantined message needs at least one recipient".into(),
        ));
    }
    let recipients = serde_json::to_string(&new.recipients)
        .map_err(|e| StoreError::Invalid(format!("recipients: {e}")))?;
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    // The message row makes the held blob one that garbage collection knows (garbage.rs):
    // kept while this row references it, removed with its file after release or delete.
    let new_message = insert_message(&mut tx, &new.blob.0, index).await?;
    if new_message && shared.blobs.get().is_some_and(|b| !b.contains(&new.blob)) {
        return Err(StoreError::Unavailable(format!(
            "the message file {} was removed while it was being quarantined; try again",
            new.blob
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO quarantine (blob_hash, mail_from, recipients, reason, source, remote_ip, \
         helo, message_id, subject, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(&new.blob.0)
    .bind(&new.mail_from)
    .bind(&recipients)
    .bind(&new.reason)
    .bind(&new.source)
    .bind(&new.remote_ip)
    .bind(&new.helo)
    .bind(&new.message_id)
    .bind(&new.subject)
    .bind(new.at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?
    .try_get(0)
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(Quarantined { id, message: new })
}

pub(super) async fn list(read: &SqlitePool) -> Result<Vec<Quarantined>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM quarantine ORDER BY quarantined_at, id"
    );
    let rows = sqlx::query(sql).fetch_all(read).await.map_err(db)?;
    rows.iter().map(from_row).collect()
}

pub(super) async fn get(read: &SqlitePool, id: QuarantineId) -> Result<Option<Quarantined>> {
    let sql = concat!("SELECT ", columns!(), " FROM quarantine WHERE id = ?");
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(from_row).transpose()
}

pub(super) async fn remove(shared: &Shared, id: QuarantineId) -> Result<Quarantined> {
    let sql = concat!("DELETE FROM quarantine WHERE id = ? RETURNING ", columns!());
    let mut conn = shared.write.lock().await;
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    match row {
        Some(row) => from_row(&row),
        None => Err(StoreError::NotFound(format!("quarantined message {id}"))),
    }
}

pub(super) async fn locate(read: &SqlitePool, key: &MessageKey) -> Result<Vec<MessageLocation>> {
    let rows = match key {
        MessageKey::MessageId(id) => {
            sqlx::query(
                "SELECT f.account_id, e.folder_id, e.uid, e.message_hash \
                 FROM messages m JOIN mailbox_entries e ON e.message_hash = m.hash \
                 JOIN folders f ON f.id = e.folder_id \
                 WHERE m.message_id = ? ORDER BY f.account_id, e.folder_id, e.uid",
            )
            .bind(id)
            .fetch_all(read)
            .await
        }
        MessageKey::Blob(hash) => {
            sqlx::query(
                "SELECT f.account_id, e.folder_id, e.uid, e.message_hash \
                 FROM mailbox_entries e JOIN folders f ON f.id = e.folder_id \
                 WHERE e.message_hash = ? ORDER BY f.account_id, e.folder_id, e.uid",
            )
            .bind(&hash.0)
            .fetch_all(read)
            .await
        }
    }
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(MessageLocation {
                account: row.try_get(0).map_err(db)?,
                folder: row.try_get(1).map_err(db)?,
                uid: to_uid(row.try_get(2).map_err(db)?)?,
                blob: BlobHash(row.try_get(3).map_err(db)?),
            })
        })
        .collect()
}
