//! Abnormal use of a mailbox (R-POL-9) in SQLite (migration 0013): failed-login counts,
//! known login networks, hourly send counts, security events waiting to be mailed, and
//! outbound holds.
//!
//! Keeps true:
//! - Counting a failure, noting a network and counting a sent message are each one statement
//!   (or one transaction) on the write connection, so concurrent sessions never lose a count.
//! - A parked queued message keeps its row in `queue_messages` (so its blob stays referenced
//!   for garbage collection) and only its pending recipients' `next_attempt_at` moves to
//!   [`PARKED`], far beyond any clock: the queue's claim never finds it due. Releasing sets it
//!   to now and drops the hold in the same transaction.

use super::Shared;
use super::rows::db;
use crate::{
    AccountId, LoginFailures, NetworkNote, NewSecurityEvent, OutboundHold, QueueId, Result,
    SecurityEvent, SendCounts, StoreError,
};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection, Row};

/// `next_attempt_at` of a parked recipient (year 33658: never due).
pub const PARKED: i64 = 1 << 40;

fn failures_from_row(row: &SqliteRow) -> Result<LoginFailures> {
    let failures: i64 = row.try_get(0).map_err(db)?;
    Ok(LoginFailures {
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failure: row.try_get(1).map_err(db)?,
        blocked_until: row.try_get(2).map_err(db)?,
    })
}

pub(super) async fn login_failures(
    read: &SqlitePool,
    scope: &str,
    key: &str,
) -> Result<Option<LoginFailures>> {
    sqlx::query(
        "SELECT failures, last_failure, blocked_until FROM login_failures \
         WHERE scope = ? AND key = ?",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|row| failures_from_row(&row))
    .transpose()
}

pub(super) async fn record_login_failure(
    shared: &Shared,
    scope: &str,
    key: &str,
    now: i64,
    window: i64,
) -> Result<LoginFailures> {
    let conn = &mut *shared.write.lock().await;
    // A quiet window forgets the count and any wait; otherwise the count grows.
    let row = sqlx::query(
        "INSERT INTO login_failures (scope, key, failures, last_failure, blocked_until) \
         VALUES (?, ?, 1, ?, 0) \
         ON CONFLICT (scope, key) DO UPDATE SET \
           failures = CASE WHEN last_failure + ? <= excluded.last_failure THEN 1 \
                           ELSE failures + 1 END, \
           blocked_until = CASE WHEN last_failure + ? <= excluded.last_failure THEN 0 \
                                ELSE blocked_until END, \
           last_failure = excluded.last_failure \
         RETURNING failures, last_failure, blocked_until",
    )
    .bind(scope)
    .bind(key)
    .bind(now)
    .bind(window)
    .bind(window)
    .fetch_one(conn)
    .await
    .map_err(db)?;
    failures_from_row(&row)
}

pub(super) async fn block_login(shared: &Shared, scope: &str, key: &str, until: i64) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
    sqlx::query(
        "UPDATE login_failures SET blocked_until = MAX(blocked_until, ?) \
         WHERE scope = ? AND key = ?",
    )
    .bind(until)
    .bind(scope)
    .bind(key)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn clear_login_failures(shared: &Shared, scope: &str, key: &str) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
    sqlx::query("DELETE FROM login_failures WHERE scope = ? AND key = ?")
        .bind(scope)
        .bind(key)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn knows_login_network(
    read: &SqlitePool,
    account: AccountId,
    network: &str,
) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM login_networks WHERE account_id = ? AND network = ?")
            .bind(account)
            .bind(network)
            .fetch_optional(read)
            .await
            .map_err(db)?
            .is_some(),
    )
}

pub(super) async fn note_login_network(
    shared: &Shared,
    account: AccountId,
    network: &str,
    now: i64,
) -> Result<NetworkNote> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let known_before =
        sqlx::query("UPDATE login_networks SET last_seen = ? WHERE account_id = ? AND network = ?")
            .bind(now)
            .bind(account)
            .bind(network)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
    let mut first_ever = false;
    if !known_before {
        first_ever = sqlx::query("SELECT 1 FROM login_networks WHERE account_id = ? LIMIT 1")
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_none();
        sqlx::query(
            "INSERT INTO login_networks (account_id, network, first_seen, last_seen) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(account)
        .bind(network)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| super::account_details::foreign_key_or_db(e, "account"))?;
    }
    tx.commit().await.map_err(db)?;
    Ok(NetworkNote {
        known_before,
        first_ever,
    })
}

pub(super) async fn count_sent_message(
    shared: &Shared,
    account: AccountId,
    hour: i64,
    oldest_hour: i64,
) -> Result<SendCounts> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    sqlx::query("DELETE FROM send_hours WHERE account_id = ? AND hour < ?")
        .bind(account)
        .bind(oldest_hour)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let row = sqlx::query(
        "INSERT INTO send_hours (account_id, hour, messages) VALUES (?, ?, 1) \
         ON CONFLICT (account_id, hour) DO UPDATE SET messages = messages + 1 \
         RETURNING messages, flagged",
    )
    .bind(account)
    .bind(hour)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| super::account_details::foreign_key_or_db(e, "account"))?;
    let current: i64 = row.try_get(0).map_err(db)?;
    let flagged: bool = row.try_get(1).map_err(db)?;
    let history = sqlx::query(
        "SELECT COALESCE(SUM(messages), 0), COUNT(*) FROM send_hours \
         WHERE account_id = ? AND hour < ?",
    )
    .bind(account)
    .bind(hour)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let sum: i64 = history.try_get(0).map_err(db)?;
    let hours: i64 = history.try_get(1).map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(SendCounts {
        current: current.max(0) as u64,
        history_sum: sum.max(0) as u64,
        history_hours: hours.max(0) as u64,
        flagged,
    })
}

pub(super) async fn flag_send_hour(shared: &Shared, account: AccountId, hour: i64) -> Result<bool> {
    let conn = &mut *shared.write.lock().await;
    let done = sqlx::query(
        "UPDATE send_hours SET flagged = TRUE WHERE account_id = ? AND hour = ? AND NOT flagged",
    )
    .bind(account)
    .bind(hour)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

fn event_from_row(row: &SqliteRow) -> Result<SecurityEvent> {
    Ok(SecurityEvent {
        id: row.try_get(0).map_err(db)?,
        event: NewSecurityEvent {
            at: row.try_get(1).map_err(db)?,
            kind: row.try_get(2).map_err(db)?,
            account: row.try_get(3).map_err(db)?,
            address: row.try_get(4).map_err(db)?,
            source_ip: row.try_get(5).map_err(db)?,
            detail: row.try_get(6).map_err(db)?,
        },
        notified_at: row.try_get(7).map_err(db)?,
    })
}

pub(super) async fn record_security_event(
    shared: &Shared,
    event: NewSecurityEvent,
) -> Result<SecurityEvent> {
    let conn = &mut *shared.write.lock().await;
    let row = sqlx::query(
        "INSERT INTO security_events (at, kind, account_id, address, source_ip, detail) \
         VALUES (?, ?, ?, ?, ?, ?) \
         RETURNING id, at, kind, account_id, address, source_ip, detail, notified_at",
    )
    .bind(event.at)
    .bind(&event.kind)
    .bind(event.account)
    .bind(&event.address)
    .bind(&event.source_ip)
    .bind(&event.detail)
    .fetch_one(conn)
    .await
    .map_err(db)?;
    event_from_row(&row)
}

pub(super) async fn pending_security_events(
    read: &SqlitePool,
    limit: usize,
) -> Result<Vec<SecurityEvent>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, account_id, address, source_ip, detail, notified_at \
         FROM security_events WHERE notified_at IS NULL ORDER BY id LIMIT ?",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn mark_security_event_notified(shared: &Shared, id: i64, at: i64) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
    sqlx::query("UPDATE security_events SET notified_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

fn hold_from_row(row: &SqliteRow) -> Result<OutboundHold> {
    Ok(OutboundHold {
        address: row.try_get(0).map_err(db)?,
        account: row.try_get(1).map_err(db)?,
        since: row.try_get(2).map_err(db)?,
        reason: row.try_get(3).map_err(db)?,
    })
}

pub(super) async fn hold_outbound(shared: &Shared, hold: OutboundHold) -> Result<()> {
    let conn = &mut *shared.write.lock().await;
    sqlx::query(
        "INSERT INTO outbound_holds (address, account_id, since, reason) VALUES (?, ?, ?, ?) \
         ON CONFLICT (address) DO NOTHING",
    )
    .bind(hold.address.to_lowercase())
    .bind(hold.account)
    .bind(hold.since)
    .bind(&hold.reason)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn outbound_hold(
    read: &SqlitePool,
    address: &str,
) -> Result<Option<OutboundHold>> {
    sqlx::query("SELECT address, account_id, since, reason FROM outbound_holds WHERE address = ?")
        .bind(address.to_lowercase())
        .fetch_optional(read)
        .await
        .map_err(db)?
        .map(|row| hold_from_row(&row))
        .transpose()
}

pub(super) async fn outbound_holds(read: &SqlitePool) -> Result<Vec<OutboundHold>> {
    let rows = sqlx::query(
        "SELECT address, account_id, since, reason FROM outbound_holds ORDER BY since, address",
    )
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(hold_from_row).collect()
}

pub(super) async fn hold_queued(
    shared: &Shared,
    id: QueueId,
    address: &str,
    at: i64,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let exists = sqlx::query("SELECT 1 FROM queue_messages WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    sqlx::query(
        "UPDATE queue_recipients SET next_attempt_at = ?, locked_until = 0 \
         WHERE message_id = ? AND status = 'pending'",
    )
    .bind(PARKED)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO queue_holds (message_id, address, held_at) VALUES (?, ?, ?) \
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(id)
    .bind(address.to_lowercase())
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

pub(super) async fn held_queued(read: &SqlitePool) -> Result<Vec<(QueueId, String)>> {
    let rows = sqlx::query("SELECT message_id, address FROM queue_holds ORDER BY message_id")
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|row| Ok((row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?)))
        .collect()
}

pub(super) async fn release_outbound(shared: &Shared, address: &str, now: i64) -> Result<usize> {
    let address = address.to_lowercase();
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let held = sqlx::query("DELETE FROM outbound_holds WHERE address = ?")
        .bind(&address)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    sqlx::query(
        "UPDATE queue_recipients SET next_attempt_at = ?, locked_until = 0 \
         WHERE status = 'pending' AND message_id IN \
           (SELECT message_id FROM queue_holds WHERE address = ?)",
    )
    .bind(now)
    .bind(&address)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let messages = sqlx::query("DELETE FROM queue_holds WHERE address = ?")
        .bind(&address)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    if held == 0 && messages == 0 {
        return Err(StoreError::NotFound(format!(
            "no outbound hold for {address}"
        )));
    }
    tx.commit().await.map_err(db)?;
    Ok(usize::try_from(messages).unwrap_or(usize::MAX))
}

pub(super) async fn queue_size(read: &SqlitePool) -> Result<(u64, u64)> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM queue_recipients WHERE status = 'pending'), \
                (SELECT COUNT(*) FROM queue_holds)",
    )
    .fetch_one(read)
    .await
    .map_err(db)?;
    let pending: i64 = row.try_get(0).map_err(db)?;
    let held: i64 = row.try_get(1).map_err(db)?;
    Ok((pending.max(0) as u64, held.max(0) as u64))
}
