//! SEARCH by text (RFC 9051 §6.4.4 SUBJECT, FROM, TO, CC, BCC, BODY, TEXT), Vietnamese-aware.
//!
//! A needle without diacritics is folded and matched against the folded columns, so
//! "nguyen" finds both "Nguyễn" and "Nguyen"; a needle with diacritics is NFC-lowercased and
//! matched against the exact columns, so "Nguyễn" does not find "Nguyen". Both are
//! case-insensitive because both column sets are stored lowercased.
//!
//! The needle is bound as a parameter and matched with `instr()`, so no character of it
//! (`%`, `_`, quotes) has any meaning to SQL.

use super::rows::{self, db};
use crate::{FolderId, Result, TextField, Uid};
use congvu_core::fold::{fold_diacritics, has_diacritics, normalize_lower};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

macro_rules! search_sql {
    ($cond:expr) => {
        concat!(
            "SELECT e.uid FROM mailbox_entries e JOIN messages m ON m.hash = e.message_hash \
             WHERE e.folder_id = ? AND ",
            $cond,
            " ORDER BY e.uid"
        )
    };
}

/// A search of one header field: the narrow `message_header_text` (migration 0015), never the
/// wide `messages` rows, whose header search columns sit after the body text.
macro_rules! header_sql {
    ($column:literal) => {
        concat!(
            "SELECT e.uid FROM mailbox_entries e JOIN message_header_text h ON h.hash = e.message_hash \
             WHERE e.folder_id = ? AND instr(h.",
            $column,
            ", ?) > 0 ORDER BY e.uid"
        )
    };
}

macro_rules! any_of {
    ($prefix:literal) => {
        search_sql!(concat!(
            "(instr(m.",
            $prefix,
            "subject, ?) > 0 OR instr(m.",
            $prefix,
            "from, ?) > 0 OR instr(m.",
            $prefix,
            "to, ?) > 0 OR instr(m.",
            $prefix,
            "cc, ?) > 0 OR instr(m.",
            $prefix,
            "bcc, ?) > 0 OR instr(m.",
            $prefix,
            "body, ?) > 0)"
        ))
    };
}

/// The static SQL for a field and column set, and how many times it binds the needle.
fn query_for(field: TextField, exact: bool) -> (&'static str, usize) {
    match (field, exact) {
        (TextField::Subject, true) => (header_sql!("exact_subject"), 1),
        (TextField::From, true) => (header_sql!("exact_from"), 1),
        (TextField::To, true) => (header_sql!("exact_to"), 1),
        (TextField::Cc, true) => (header_sql!("exact_cc"), 1),
        (TextField::Bcc, true) => (header_sql!("exact_bcc"), 1),
        (TextField::Body, true) => (search_sql!("instr(m.search_exact_body, ?) > 0"), 1),
        (TextField::Text, true) => (any_of!("search_exact_"), 6),
        (TextField::Subject, false) => (header_sql!("folded_subject"), 1),
        (TextField::From, false) => (header_sql!("folded_from"), 1),
        (TextField::To, false) => (header_sql!("folded_to"), 1),
        (TextField::Cc, false) => (header_sql!("folded_cc"), 1),
        (TextField::Bcc, false) => (header_sql!("folded_bcc"), 1),
        (TextField::Body, false) => (search_sql!("instr(m.search_folded_body, ?) > 0"), 1),
        (TextField::Text, false) => (any_of!("search_folded_"), 6),
    }
}

pub(super) async fn search_text(
    read: &SqlitePool,
    folder: FolderId,
    field: TextField,
    needle: &str,
) -> Result<Vec<Uid>> {
    let exact = has_diacritics(needle);
    let needle = if exact {
        normalize_lower(needle)
    } else {
        fold_diacritics(needle)
    };
    let (sql, binds) = query_for(field, exact);
    let mut query = sqlx::query(sql).bind(folder);
    for _ in 0..binds {
        query = query.bind(needle.clone());
    }
    let rows = query.fetch_all(read).await.map_err(db)?;
    rows.iter()
        .map(|row| rows::to_uid(row.try_get(0).map_err(db)?))
        .collect()
}
