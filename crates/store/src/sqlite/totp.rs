//! The TOTP second factor of a mailbox (migration 0007): its RFC 6238 secret and the newest
//! time step a code was accepted for.
//!
//! Keeps true: accepting a step is one conditional UPDATE on the write connection, so two
//! logins racing with the same code cannot both succeed (RFC 6238 §5.2, one use per code).

use super::Shared;
use super::account_details::foreign_key_or_db;
use super::rows::db;
use crate::{AccountId, Result, TotpSecret};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

pub(super) async fn totp(read: &SqlitePool, account: AccountId) -> Result<Option<TotpSecret>> {
    let row =
        sqlx::query("SELECT secret, enabled_at, last_step FROM totp_secrets WHERE account_id = ?")
            .bind(account)
            .fetch_optional(read)
            .await
            .map_err(db)?;
    row.map(|row| {
        Ok(TotpSecret {
            secret: row.try_get(0).map_err(db)?,
            enabled_at: row.try_get(1).map_err(db)?,
            last_step: row.try_get(2).map_err(db)?,
        })
    })
    .transpose()
}

pub(super) async fn set_totp(
    shared: &Shared,
    account: AccountId,
    secret: Option<&[u8]>,
    at: i64,
) -> Result<()> {
    let mut conn = shared.write.lock().await;
    match secret {
        Some(secret) => {
            sqlx::query(
                "INSERT INTO totp_secrets (account_id, secret, enabled_at, last_step) \
                 VALUES (?, ?, ?, NULL) ON CONFLICT (account_id) DO UPDATE SET \
                 secret = excluded.secret, enabled_at = excluded.enabled_at, last_step = NULL",
            )
            .bind(account)
            .bind(secret)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(|e| foreign_key_or_db(e, "account"))?;
        }
        None => {
            sqlx::query("DELETE FROM totp_secrets WHERE account_id = ?")
                .bind(account)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

pub(super) async fn use_totp_step(shared: &Shared, account: AccountId, step: i64) -> Result<bool> {
    let mut conn = shared.write.lock().await;
    let done = sqlx::query(
        "UPDATE totp_secrets SET last_step = ? \
         WHERE account_id = ? AND (last_step IS NULL OR last_step < ?)",
    )
    .bind(step)
    .bind(account)
    .bind(step)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}
