//! SEARCH by text (RFC 9051 §6.4.4 SUBJECT, FROM, TO, CC, BCC, BODY, TEXT), Vietnamese-aware.
//!
//! A needle without diacritics is folded and matched against the folded columns, so
//! "nguyen" finds both "Nguyễn" and "Nguyen"; a needle with diacritics is NFC-lowercased and
//! matched against the exact columns, so "Nguyễn" does not find "Nguyen". Both are
//! case-insensitive because both column sets are stored lowercased.
//!
//! The needle is bound as a parameter and matched with `instr()`, so no character of it
//! (`%`, `_`, quotes) has any meaning to SQL.
//!
//! A search of one header field (SUBJECT, FROM, TO, CC, BCC) is answered from memory: the
//! folder's current view gives each message's hash, and `Shared::header_texts` the header
//! text of each hash (read from `message_header_text` the first time, in one query). The SQL
//! way joins every entry of the folder to that table, one B-tree descent per message, on
//! pages every reader drops after any commit (SQLite's page cache starts over when the WAL
//! moved): a 1,000-message SEARCH SUBJECT cost milliseconds under a mixed load, this costs
//! tens of microseconds. The text is immutable per hash, so the cache cannot go stale.

use super::Shared;
use super::read::cached_or_loaded_view;
use super::rows::{self, db};
use crate::{FolderId, Result, StoreError, TextField, Uid};
use congvu_core::fold::{fold_diacritics, has_diacritics, normalize_lower};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

/// Memory for header texts (`Shared::header_texts`): a few hundred bytes per message, so
/// about 100,000 messages' worth.
pub(super) const HEADER_TEXT_CACHE_BYTES: usize = 48 << 20;

/// Hashes per query when reading header texts not in memory.
const HEADER_TEXT_CHUNK: usize = 2_000;

/// One message's `message_header_text` row: the exact (NFC, lowercased) and the folded text
/// of SUBJECT, FROM, TO, CC and BCC, in that order.
pub(crate) struct HeaderText {
    exact: [String; 5],
    folded: [String; 5],
}

impl HeaderText {
    fn cost(&self) -> usize {
        let text: usize = self.exact.iter().chain(&self.folded).map(String::len).sum();
        // Ten string headers, the Arc and the map's entry with its 64-byte key.
        text + 10 * 24 + 160
    }
}

/// Where a header field sits in `HeaderText`; None for BODY and TEXT.
fn header_slot(field: TextField) -> Option<usize> {
    match field {
        TextField::Subject => Some(0),
        TextField::From => Some(1),
        TextField::To => Some(2),
        TextField::Cc => Some(3),
        TextField::Bcc => Some(4),
        TextField::Body | TextField::Text => None,
    }
}

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
    shared: &Shared,
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
    if let Some(slot) = header_slot(field) {
        return search_header(shared, folder, slot, exact, &needle).await;
    }
    let read = &shared.read;
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

/// SUBJECT, FROM, TO, CC or BCC (`slot`) from memory; see the module notes.
async fn search_header(
    shared: &Shared,
    folder: FolderId,
    slot: usize,
    exact: bool,
    needle: &str,
) -> Result<Vec<Uid>> {
    let Some(view) = cached_or_loaded_view(shared, folder).await? else {
        return Ok(Vec::new());
    };
    let mut texts = shared.header_texts.get_many(view.hashes.iter());
    let missing: Vec<String> = {
        let mut missing: Vec<String> = texts
            .iter()
            .zip(&view.hashes)
            .filter(|(text, _)| text.is_none())
            .map(|(_, hash)| blake3::Hash::from_bytes(*hash).to_hex().to_string())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    };
    if !missing.is_empty() {
        let mut read: HashMap<[u8; 32], Arc<HeaderText>> = HashMap::new();
        for chunk in missing.chunks(HEADER_TEXT_CHUNK) {
            for (hash, text) in read_header_texts(shared, chunk).await? {
                let Some(key) = crate::hash_bytes(&hash) else {
                    continue;
                };
                let text = Arc::new(text);
                shared.header_texts.insert(&key, text.clone(), text.cost());
                read.insert(key, text);
            }
        }
        for (text, hash) in texts.iter_mut().zip(&view.hashes) {
            if text.is_none() {
                *text = read.get(hash).cloned();
            }
        }
    }
    // An entry without header text is one whose message was collected meanwhile: no match.
    Ok(view
        .messages
        .iter()
        .zip(&texts)
        .filter(|(_, text)| {
            text.as_ref().is_some_and(|t| {
                let haystack = if exact {
                    &t.exact[slot]
                } else {
                    &t.folded[slot]
                };
                haystack.contains(needle)
            })
        })
        .map(|(m, _)| m.uid)
        .collect())
}

/// The `message_header_text` rows of `hashes`, in one query.
async fn read_header_texts(
    shared: &Shared,
    hashes: &[String],
) -> Result<Vec<(String, HeaderText)>> {
    let json = serde_json::to_string(hashes)
        .map_err(|e| StoreError::Unavailable(format!("encoding hashes: {e}")))?;
    let rows = sqlx::query(
        "SELECT hash, exact_subject, exact_from, exact_to, exact_cc, exact_bcc, \
         folded_subject, folded_from, folded_to, folded_cc, folded_bcc \
         FROM message_header_text WHERE hash IN (SELECT value FROM json_each(?))",
    )
    .bind(json)
    .fetch_all(&shared.read)
    .await
    .map_err(db)?;
    let text = |row: &sqlx::sqlite::SqliteRow, i: usize| row.try_get::<String, _>(i).map_err(db);
    // Columns 1-5 are the exact text of the five fields, 6-10 the folded text.
    let fields = |row: &sqlx::sqlite::SqliteRow, first: usize| -> Result<[String; 5]> {
        let mut out: [String; 5] = Default::default();
        for (i, field) in out.iter_mut().enumerate() {
            *field = text(row, first + i)?;
        }
        Ok(out)
    };
    rows.iter()
        .map(|row| {
            Ok((
                text(row, 0)?,
                HeaderText {
                    exact: fields(row, 1)?,
                    folded: fields(row, 6)?,
                },
            ))
        })
        .collect()
}
