//! Conversions between SQL rows and the store's types, and the helpers every query shares.
//!
//! Invariant: a value read back that does not fit its Rust type (a negative UID, an unknown
//! account kind) is reported as `Unavailable` ("database corrupted"), never truncated.

use crate::{
    Account, AccountKind, AccountState, Folder, MessageSummary, ModSeq, Result, StoreError, Uid,
};
use congvu_core::{Flags, SpecialUse};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

/// The columns `folder_from_row` reads, in a `SELECT … FROM folders`.
macro_rules! select_folders {
    ($rest:literal) => {
        concat!(
            "SELECT id, account_id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed FROM folders ",
            $rest
        )
    };
}
pub(super) use select_folders;

/// The columns `account_from_row` reads, in a `SELECT … FROM accounts`.
macro_rules! select_accounts {
    ($rest:literal) => {
        concat!(
            "SELECT id, address, display_name, password_hash, kind, state, created_at, purged_at FROM accounts ",
            $rest
        )
    };
}
pub(super) use select_accounts;

/// The columns `summary_from_row` reads from `mailbox_entries`, in this order.
pub(super) const SUMMARY_COLUMNS: usize = 6;

pub(super) fn db(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("database: {e}"))
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("database corrupted: {what}"))
}

/// Seconds since the epoch (UIDVALIDITY values are derived from it).
pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(super) fn to_uid(v: i64) -> Result<Uid> {
    Uid::try_from(v).map_err(|_| corrupt("UID out of range"))
}

pub(super) fn to_modseq(v: i64) -> Result<ModSeq> {
    ModSeq::try_from(v).map_err(|_| corrupt("MODSEQ out of range"))
}

/// MODSEQs are stored as BIGINT: values above i64::MAX cannot exist, so asking for changes
/// since such a value means "nothing is newer".
pub(super) fn modseq_param(m: ModSeq) -> i64 {
    i64::try_from(m).unwrap_or(i64::MAX)
}

/// A UID set as the JSON array that `json_each(?)` expands.
pub(super) fn uid_set(uids: &[Uid]) -> String {
    let mut out = String::with_capacity(uids.len() * 6 + 2);
    out.push('[');
    for (i, uid) in uids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&uid.to_string());
    }
    out.push(']');
    out
}

fn get<'r, T>(row: &'r SqliteRow, index: usize) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(index).map_err(db)
}

pub(super) fn folder_from_row(row: &SqliteRow) -> Result<Folder> {
    let special: Option<String> = get(row, 3)?;
    let special_use = match special {
        None => None,
        Some(token) => Some(SpecialUse::from_token(&token).ok_or_else(|| corrupt("special use"))?),
    };
    Ok(Folder {
        id: get(row, 0)?,
        account_id: get(row, 1)?,
        name: get(row, 2)?,
        special_use,
        uidvalidity: u32::try_from(get::<i64>(row, 4)?).map_err(|_| corrupt("UIDVALIDITY"))?,
        uidnext: to_uid(get(row, 5)?)?,
        highest_modseq: to_modseq(get(row, 6)?)?,
        subscribed: get(row, 7)?,
    })
}

pub(super) fn account_from_row(row: &SqliteRow) -> Result<Account> {
    let kind: String = get(row, 4)?;
    let state: String = get(row, 5)?;
    Ok(Account {
        id: get(row, 0)?,
        address: get(row, 1)?,
        display_name: get(row, 2)?,
        password_hash: get(row, 3)?,
        kind: AccountKind::from_token(&kind).ok_or_else(|| corrupt("account kind"))?,
        // A purged mailbox keeps 'revoked' in `state` (migration 0014).
        state: match get::<Option<i64>>(row, 7)? {
            Some(_) => AccountState::Purged,
            None => AccountState::from_token(&state).ok_or_else(|| corrupt("account state"))?,
        },
        created_at: get(row, 6)?,
    })
}

/// Reads `uid, modseq, flags, keywords, internal_date, size` starting at column 0.
pub(super) fn summary_from_row(row: &SqliteRow) -> Result<MessageSummary> {
    let system = u32::try_from(get::<i64>(row, 2)?).map_err(|_| corrupt("flags"))?;
    let keywords: String = get(row, 3)?;
    Ok(MessageSummary {
        uid: to_uid(get(row, 0)?)?,
        modseq: to_modseq(get(row, 1)?)?,
        flags: Flags::from_columns(system, &keywords),
        internal_date: get(row, 4)?,
        size: u64::try_from(get::<i64>(row, 5)?).map_err(|_| corrupt("size"))?,
    })
}

/// Owner and UIDVALIDITY of a folder, read inside a write transaction.
pub(super) async fn folder_owner(
    conn: &mut SqliteConnection,
    folder: crate::FolderId,
) -> Result<(crate::AccountId, u32)> {
    let row = sqlx::query("SELECT account_id, uidvalidity FROM folders WHERE id = ?")
        .bind(folder)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    let uidvalidity = u32::try_from(get::<i64>(&row, 1)?).map_err(|_| corrupt("UIDVALIDITY"))?;
    Ok((get(&row, 0)?, uidvalidity))
}

/// Takes the folder's next MODSEQ (and `uid_count` UIDs), inside a write transaction.
/// Returns the first new UID and the new MODSEQ.
///
/// RFC 9051 §2.3.1.1: UIDs are 32-bit; a folder that would run past 2^32-1 refuses new
/// messages rather than wrap (the operator then re-creates it with a new UIDVALIDITY).
pub(super) async fn allocate(
    conn: &mut SqliteConnection,
    folder: crate::FolderId,
    uid_count: u32,
) -> Result<(Uid, ModSeq)> {
    let row = sqlx::query(
        "UPDATE folders SET uidnext = uidnext + ?, highest_modseq = highest_modseq + 1 \
         WHERE id = ? RETURNING uidnext, highest_modseq",
    )
    .bind(i64::from(uid_count))
    .bind(folder)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    let next: i64 = get(&row, 0)?;
    // uidnext may reach 2^32 (no UID left), but every UID handed out must fit in 32 bits.
    if next - 1 > i64::from(u32::MAX) {
        return Err(StoreError::Invalid(format!(
            "folder {folder} has no UIDs left"
        )));
    }
    let first = to_uid(next - i64::from(uid_count))?;
    Ok((first, to_modseq(get(&row, 1)?)?))
}

/// Takes the folder's next MODSEQ for a change that adds no message (a STORE), inside a write
/// transaction; with the folder's owner, in the same statement (one round trip, not two).
pub(super) async fn next_modseq(
    conn: &mut SqliteConnection,
    folder: crate::FolderId,
) -> Result<(crate::AccountId, ModSeq)> {
    let row = sqlx::query(
        "UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = ? \
         RETURNING account_id, highest_modseq",
    )
    .bind(folder)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    Ok((get(&row, 0)?, to_modseq(get(&row, 1)?)?))
}

/// Keywords are stored space-separated (`Flags::keywords_column`): one with whitespace or a
/// control character would come back as something else, so it is refused here. RFC 9051
/// §2.3.2 makes a keyword an atom, which has neither.
pub(super) fn check_keywords(flags: &Flags) -> Result<()> {
    match flags
        .keywords
        .iter()
        .find(|k| k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        Some(bad) => Err(StoreError::Invalid(format!("bad keyword {bad:?}"))),
        None => Ok(()),
    }
}
