//! Grants: who may use which mailbox, with which RFC 4314 rights (§2.1 letters).
//!
//! Keeps true:
//! - Stored rights are canonical: each letter once, in the order of [`RIGHTS`]; a letter
//!   outside it is refused with `Invalid` naming it, so nothing unreadable is stored.
//! - Setting empty rights removes the grant (and is not an error when there was none); a
//!   mailbox is never granted to its own account (the owner holds every right implicitly).
//! - Both accounts must exist: a grant naming an unknown account is `NotFound`.

use super::Shared;
use super::rows::db;
use crate::{AccountId, Grant, Result, StoreError};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

/// RFC 4314 §2.1 rights, in the canonical order they are stored in: lookup, read, seen,
/// write, insert, post, create (k), delete mailbox (x), delete messages (t), expunge (e),
/// administer (a).
pub(crate) const RIGHTS: &str = "lrswipkxtea";

/// Puts `rights` in canonical order without duplicates, or names the first unknown letter.
pub(super) fn canonical_rights(rights: &str) -> Result<String> {
    if let Some(bad) = rights.chars().find(|c| !RIGHTS.contains(*c)) {
        return Err(StoreError::Invalid(format!(
            "unknown right {bad:?}: rights are letters of {RIGHTS:?} (RFC 4314 §2.1)"
        )));
    }
    Ok(RIGHTS.chars().filter(|c| rights.contains(*c)).collect())
}

pub(super) async fn set_grant(
    shared: &Shared,
    mailbox: AccountId,
    grantee: AccountId,
    rights: &str,
) -> Result<()> {
    let rights = canonical_rights(rights)?;
    if mailbox == grantee {
        return Err(StoreError::Invalid(format!(
            "account {mailbox} cannot be granted its own mailbox"
        )));
    }
    let mut conn = shared.write.lock().await;
    if rights.is_empty() {
        sqlx::query("DELETE FROM grants WHERE mailbox_id = ? AND grantee_id = ?")
            .bind(mailbox)
            .bind(grantee)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO grants (mailbox_id, grantee_id, rights) VALUES (?, ?, ?) \
         ON CONFLICT (mailbox_id, grantee_id) DO UPDATE SET rights = excluded.rights",
    )
    .bind(mailbox)
    .bind(grantee)
    .bind(&rights)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::NotFound(format!("account {mailbox} or {grantee}"))
        } else {
            db(e)
        }
    })?;
    Ok(())
}

pub(super) async fn grants_to(read: &SqlitePool, grantee: AccountId) -> Result<Vec<Grant>> {
    let rows = sqlx::query(
        "SELECT mailbox_id, grantee_id, rights FROM grants WHERE grantee_id = ? \
         ORDER BY mailbox_id",
    )
    .bind(grantee)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(grant_from_row).collect()
}

pub(super) async fn grants_on(read: &SqlitePool, mailbox: AccountId) -> Result<Vec<Grant>> {
    let rows = sqlx::query(
        "SELECT mailbox_id, grantee_id, rights FROM grants WHERE mailbox_id = ? \
         ORDER BY grantee_id",
    )
    .bind(mailbox)
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(grant_from_row).collect()
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

fn grant_from_row(row: &SqliteRow) -> Result<Grant> {
    Ok(Grant {
        mailbox: row.try_get(0).map_err(db)?,
        grantee: row.try_get(1).map_err(db)?,
        rights: row.try_get(2).map_err(db)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_are_put_in_canonical_order_once() {
        assert_eq!(canonical_rights("pl").ok(), Some("lp".to_string()));
        assert_eq!(
            canonical_rights("aetxkpiwsrlal").ok(),
            Some("lrswipkxtea".to_string())
        );
        assert_eq!(canonical_rights("").ok(), Some(String::new()));
    }

    #[test]
    fn unknown_letters_are_named() {
        match canonical_rights("lrz") {
            Err(StoreError::Invalid(text)) => assert!(text.contains("'z'"), "{text}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        // Obsolete RFC 2086 letters are not accepted either (RFC 4314 §2.1.1 maps them).
        assert!(canonical_rights("c").is_err());
    }
}
