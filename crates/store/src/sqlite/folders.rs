//! Folders: listing, CREATE, DELETE, RENAME (RFC 9051 §6.3.4–6.3.6), subscriptions, STATUS.
//!
//! What this keeps true:
//! - Names are full paths with `/` as delimiter; "INBOX" is matched case-insensitively
//!   (RFC 9051 §5.1, via `core::folder::canonical_folder_name`), every other name exactly.
//! - Every folder gets a UIDVALIDITY above any its account gave before (`accounts.last_uidvalidity`,
//!   at least the creation time in seconds), so a folder deleted and re-created under the same
//!   name — even within one second — never reuses one (RFC 9051 §2.3.1.1).
//! - CREATE and RENAME create missing superior names (RFC 9051 §6.3.4 and §6.3.6 "SHOULD").
//! - DELETE removes the folder and its messages; the names below it stay (RFC 9051 allows a
//!   parent without messages to vanish: LIST then shows it \NonExistent). INBOX cannot go.

use super::Shared;
use super::heads::Heads;
use super::rows::{self, allocate, db, folder_from_row, select_folders};
use crate::{AccountId, Folder, FolderChange, FolderId, FolderStatus, Result, StoreError};
use congvu_core::SpecialUse;
use congvu_core::folder::{DELIMITER, canonical_folder_name};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Connection, Row};

/// Longest folder name in bytes: deep enough for any unit hierarchy, small enough that a
/// client cannot bloat the folder table with one name.
pub const MAX_FOLDER_NAME: usize = 1024;

/// Checks a folder name and returns its canonical form.
fn checked_name(name: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(StoreError::Invalid(format!(
            "bad folder name {name:?}: {why}"
        )))
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_FOLDER_NAME {
        return bad("too long");
    }
    if name.chars().any(char::is_control) {
        return bad("control character");
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return bad("empty hierarchy level");
    }
    Ok(canonical_folder_name(name))
}

/// Inserts a folder with a fresh UIDVALIDITY, inside a write transaction.
pub(super) async fn insert_folder(
    conn: &mut SqliteConnection,
    account: AccountId,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<Folder> {
    let row = sqlx::query(
        "UPDATE accounts SET last_uidvalidity = max(last_uidvalidity + 1, ?) WHERE id = ? \
         RETURNING last_uidvalidity",
    )
    .bind(rows::now_secs())
    .bind(account)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
    let uidvalidity: i64 = row.try_get(0).map_err(db)?;
    if !(1..=i64::from(u32::MAX)).contains(&uidvalidity) {
        return Err(StoreError::Unavailable(
            "UIDVALIDITY space exhausted".into(),
        ));
    }
    let row = sqlx::query(
        "INSERT INTO folders (account_id, name, special_use, uidvalidity, subscribed) \
         VALUES (?, ?, ?, ?, TRUE) \
         RETURNING id, account_id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed",
    )
    .bind(account)
    .bind(name)
    .bind(special_use.map(SpecialUse::as_str))
    .bind(uidvalidity)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if rows::is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("folder {name}"))
        } else {
            db(e)
        }
    })?;
    folder_from_row(&row)
}

/// Creates the missing superiors of `name` ("a" and "a/b" for "a/b/c").
async fn create_superiors(
    conn: &mut SqliteConnection,
    account: AccountId,
    name: &str,
) -> Result<()> {
    for (at, _) in name.match_indices(DELIMITER) {
        let superior = canonical_folder_name(&name[..at]);
        if find_folder(conn, account, &superior).await?.is_none() {
            insert_folder(conn, account, &superior, None).await?;
        }
    }
    Ok(())
}

async fn find_folder(
    conn: &mut SqliteConnection,
    account: AccountId,
    name: &str,
) -> Result<Option<Folder>> {
    let row = sqlx::query(select_folders!("WHERE account_id = ? AND name = ?"))
        .bind(account)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(folder_from_row).transpose()
}

pub(super) async fn list_folders(read: &SqlitePool, account: AccountId) -> Result<Vec<Folder>> {
    let rows = sqlx::query(select_folders!("WHERE account_id = ? ORDER BY id"))
        .bind(account)
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(folder_from_row).collect()
}

/// The folder row, from `heads` when it is known to be current (SELECT then asks the
/// database nothing), else read and remembered there.
pub(super) async fn folder_by_name(
    read: &SqlitePool,
    heads: &Heads,
    account: AccountId,
    name: &str,
) -> Result<Option<Folder>> {
    let name = canonical_folder_name(name);
    if let Some(folder) = heads.row(account, &name) {
        return Ok(Some(folder));
    }
    let epoch = heads.epoch();
    let row = sqlx::query(select_folders!("WHERE account_id = ? AND name = ?"))
        .bind(account)
        .bind(&name)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    let folder = row.as_ref().map(folder_from_row).transpose()?;
    if let Some(f) = &folder {
        heads.remember_row(epoch, f);
    }
    Ok(folder)
}

pub(super) async fn folder_by_id(read: &SqlitePool, folder: FolderId) -> Result<Option<Folder>> {
    let row = sqlx::query(select_folders!("WHERE id = ?"))
        .bind(folder)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.as_ref().map(folder_from_row).transpose()
}

pub(super) async fn create_folder(
    shared: &Shared,
    account: AccountId,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<Folder> {
    let name = checked_name(name)?;
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    if find_folder(&mut tx, account, &name).await?.is_some() {
        return Err(StoreError::AlreadyExists(format!("folder {name}")));
    }
    create_superiors(&mut tx, account, &name).await?;
    let folder = insert_folder(&mut tx, account, &name, special_use).await?;
    tx.commit().await.map_err(db)?;
    shared.heads.forget_rows();
    Ok(folder)
}

pub(super) async fn delete_folder(shared: &Shared, account: AccountId, name: &str) -> Result<()> {
    let name = canonical_folder_name(name);
    if name == "INBOX" {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let folder = find_folder(&mut tx, account, &name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("folder {name}")))?;
    // mailbox_entries and expunged rows go with it (ON DELETE CASCADE). The message rows and
    // blobs stay for other mailboxes; unreferenced ones are collected separately.
    sqlx::query("DELETE FROM folders WHERE id = ?")
        .bind(folder.id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    shared.heads.forget_rows();
    // Its id may go to the next folder created; its view must not be taken for that one's.
    shared.views.forget(folder.id);
    drop(conn);
    shared.notify([FolderChange {
        account,
        folder: folder.id,
        modseq: folder.highest_modseq + 1,
    }]);
    Ok(())
}

pub(super) async fn rename_folder(
    shared: &Shared,
    account: AccountId,
    from: &str,
    to: &str,
) -> Result<()> {
    let from = canonical_folder_name(from);
    let to = checked_name(to)?;
    let mut conn = shared.write.lock().await;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let source = find_folder(&mut tx, account, &from)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("folder {from}")))?;
    if find_folder(&mut tx, account, &to).await?.is_some() {
        return Err(StoreError::AlreadyExists(format!("folder {to}")));
    }
    let notices = if from == "INBOX" {
        rename_inbox(&mut tx, &source, &to).await?
    } else {
        rename_tree(&mut tx, &source, &to).await?;
        Vec::new()
    };
    tx.commit().await.map_err(db)?;
    shared.heads.forget_rows();
    drop(conn);
    shared.notify(notices);
    Ok(())
}

/// RFC 9051 §6.3.6: renaming a folder renames every name below it too.
async fn rename_tree(conn: &mut SqliteConnection, source: &Folder, to: &str) -> Result<()> {
    let prefix = format!("{}{DELIMITER}", source.name);
    if to.starts_with(&prefix) {
        return Err(StoreError::Invalid(format!(
            "cannot rename {} into itself",
            source.name
        )));
    }
    let children = sqlx::query(
        "SELECT id, name FROM folders WHERE account_id = ? AND substr(name, 1, ?) = ? ORDER BY id",
    )
    .bind(source.account_id)
    .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
    .bind(&prefix)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut renames = vec![(source.id, to.to_string())];
    for row in &children {
        let id: FolderId = row.try_get(0).map_err(db)?;
        let name: String = row.try_get(1).map_err(db)?;
        let Some(rest) = name.strip_prefix(&source.name) else {
            continue;
        };
        let new_name = format!("{to}{rest}");
        checked_name(&new_name)?;
        if find_folder(conn, source.account_id, &new_name)
            .await?
            .is_some()
        {
            return Err(StoreError::AlreadyExists(format!("folder {new_name}")));
        }
        renames.push((id, new_name));
    }
    for (id, name) in &renames {
        sqlx::query("UPDATE folders SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    create_superiors(conn, source.account_id, to).await
}

/// RFC 9051 §6.3.6: renaming INBOX moves its messages to a new folder and leaves INBOX in
/// place, empty; the names below INBOX are not renamed.
async fn rename_inbox(
    conn: &mut SqliteConnection,
    inbox: &Folder,
    to: &str,
) -> Result<Vec<FolderChange>> {
    create_superiors(conn, inbox.account_id, to).await?;
    let target = insert_folder(conn, inbox.account_id, to, None).await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM mailbox_entries WHERE folder_id = ?")
        .bind(inbox.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let count = u32::try_from(count).map_err(|_| StoreError::Invalid("INBOX too large".into()))?;
    let (first, target_modseq) = allocate(conn, target.id, count).await?;
    sqlx::query(
        "INSERT INTO mailbox_entries (folder_id, uid, modseq, flags, keywords, internal_date, size, message_hash) \
         SELECT ?, ? + row_number() OVER (ORDER BY uid) - 1, ?, flags, keywords, internal_date, size, message_hash \
         FROM mailbox_entries WHERE folder_id = ?",
    )
    .bind(target.id)
    .bind(i64::from(first))
    .bind(rows::modseq_param(target_modseq))
    .bind(inbox.id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let (_, inbox_modseq) = allocate(conn, inbox.id, 0).await?;
    sqlx::query(
        "INSERT INTO expunged (folder_id, uid, modseq) SELECT folder_id, uid, ? FROM mailbox_entries WHERE folder_id = ?",
    )
    .bind(rows::modseq_param(inbox_modseq))
    .bind(inbox.id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM mailbox_entries WHERE folder_id = ?")
        .bind(inbox.id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(vec![
        FolderChange {
            account: inbox.account_id,
            folder: inbox.id,
            modseq: inbox_modseq,
        },
        FolderChange {
            account: inbox.account_id,
            folder: target.id,
            modseq: target_modseq,
        },
    ])
}

pub(super) async fn set_subscribed(
    shared: &Shared,
    account: AccountId,
    name: &str,
    subscribed: bool,
) -> Result<()> {
    let name = canonical_folder_name(name);
    let mut conn = shared.write.lock().await;
    let done = sqlx::query("UPDATE folders SET subscribed = ? WHERE account_id = ? AND name = ?")
        .bind(subscribed)
        .bind(account)
        .bind(&name)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    drop(conn);
    shared.heads.forget_rows();
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("folder {name}")));
    }
    Ok(())
}

pub(super) async fn folder_status(read: &SqlitePool, folder: FolderId) -> Result<FolderStatus> {
    let row = sqlx::query(
        "SELECT f.uidnext, f.uidvalidity, f.highest_modseq, COUNT(e.uid), \
         COALESCE(SUM(CASE WHEN (e.flags & 1) = 0 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN (e.flags & 8) <> 0 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(e.size), 0) \
         FROM folders f LEFT JOIN mailbox_entries e ON e.folder_id = f.id \
         WHERE f.id = ? GROUP BY f.id",
    )
    .bind(folder)
    .fetch_optional(read)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    let int = |i: usize| -> Result<i64> { row.try_get::<i64, _>(i).map_err(db) };
    let count = |i: usize| -> Result<u32> {
        u32::try_from(int(i)?)
            .map_err(|_| StoreError::Unavailable("database corrupted: count".into()))
    };
    Ok(FolderStatus {
        messages: count(3)?,
        unseen: count(4)?,
        deleted: count(5)?,
        uidnext: rows::to_uid(int(0)?)?,
        uidvalidity: count(1)?,
        highest_modseq: rows::to_modseq(int(2)?)?,
        size: u64::try_from(int(6)?)
            .map_err(|_| StoreError::Unavailable("database corrupted: size".into()))?,
    })
}
