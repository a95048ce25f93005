//! STORE: changing flags, with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3).
//!
//! What this keeps true:
//! - All messages a STORE changes get one new MODSEQ, above every earlier one in the folder
//!   (RFC 7162 §3.1 lets one command share a mod-sequence); messages whose flags do not
//!   change keep theirs and no notification is sent for them.
//! - With UNCHANGEDSINCE, a message whose MODSEQ is above the given value is not touched and
//!   is reported in `modified` (the MODIFIED response code).
//! - A STORE is committed by the mailbox writer (`deliver.rs`) with the other writes queued
//!   beside it, in one transaction and one fsync; its caller is answered after that commit.

use super::rows::{self, db, folder_owner, next_modseq, summary_from_row};
use crate::{FolderChange, FolderId, ModSeq, Result, StoreFlagsResult, Uid};
use congvu_core::{Flags, flags::FlagOp};
use sqlx::sqlite::SqliteConnection;

/// One STORE waiting for the mailbox writer.
pub(super) struct FlagChange {
    pub folder: FolderId,
    pub uids: Vec<Uid>,
    pub op: FlagOp,
    pub flags: Flags,
    pub unchanged_since: Option<ModSeq>,
}

/// Applies a STORE inside the writer's transaction; what it changed and the notice to send
/// once committed.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    change: &FlagChange,
) -> Result<(StoreFlagsResult, Vec<FolderChange>)> {
    let FlagChange {
        folder,
        ref uids,
        op,
        ref flags,
        unchanged_since,
    } = *change;
    let rows = sqlx::query(
        "SELECT uid, modseq, flags, keywords, internal_date, size FROM mailbox_entries \
         WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
    )
    .bind(folder)
    .bind(rows::uid_set(uids))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;

    if rows.is_empty() {
        // Only to answer NotFound for a folder that is gone (the common case reads nothing more).
        folder_owner(conn, folder).await?;
    }
    let mut result = StoreFlagsResult::default();
    let mut changing = Vec::new();
    for row in &rows {
        let mut summary = summary_from_row(row)?;
        if unchanged_since.is_some_and(|since| summary.modseq > since) {
            result.modified.push(summary.uid);
            continue;
        }
        let mut new_flags = summary.flags.clone();
        new_flags.apply(op, flags);
        if new_flags == summary.flags {
            result.updated.push(summary);
        } else {
            summary.flags = new_flags;
            changing.push(summary);
        }
    }
    if changing.is_empty() {
        return Ok((result, Vec::new()));
    }

    let (account, modseq) = next_modseq(conn, folder).await?;
    for summary in &mut changing {
        sqlx::query("UPDATE mailbox_entries SET flags = ?, keywords = ?, modseq = ? WHERE folder_id = ? AND uid = ?")
            .bind(i64::from(summary.flags.system))
            .bind(summary.flags.keywords_column())
            .bind(rows::modseq_param(modseq))
            .bind(folder)
            .bind(i64::from(summary.uid))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        summary.modseq = modseq;
    }
    result.updated.extend(changing);
    result.updated.sort_by_key(|s| s.uid);
    result.modseq = Some(modseq);
    Ok((
        result,
        vec![FolderChange {
            account,
            folder,
            modseq,
        }],
    ))
}
