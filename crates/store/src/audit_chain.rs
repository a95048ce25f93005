//! The audit log's hash chain (R-POL-10: every privileged action is logged where it cannot be
//! silently edited), the same for every backend.
//!
//! Each entry's hash is BLAKE3 over the previous entry's hash and every field of the entry,
//! each length-prefixed so that no two different entries encode alike. Editing a field changes
//! that entry's hash; deleting or inserting an entry breaks the next entry's `prev_hash`.
//! Known limit: removing the newest entries leaves a shorter chain that still verifies; the
//! count and the last hash, copied elsewhere (backups, the operator's report), reveal it.

use crate::{AuditEntry, NewAuditEntry};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// BLAKE3 of the previous hash, the entry's id and its fields, as 64 lowercase hex digits.
pub fn entry_hash(prev_hash: &str, id: i64, e: &NewAuditEntry) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"congvu-audit-v1");
    let at = e.at.to_string();
    let id = id.to_string();
    for field in [
        prev_hash,
        &id,
        &at,
        &e.actor,
        &e.role,
        &e.action,
        &e.target,
        &e.requested_by,
        &e.approved_by,
        &e.source_ip,
        &e.detail,
    ] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Where the chain breaks first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {id}: {reason}")]
pub struct ChainBreak {
    pub id: i64,
    pub reason: String,
}

/// Checks entries in id order; returns how many were checked, or the first broken one.
pub fn verify_chain(entries: &[AuditEntry]) -> Result<usize, ChainBreak> {
    let mut prev = GENESIS.to_string();
    for e in entries {
        if e.prev_hash != prev {
            return Err(ChainBreak {
                id: e.id,
                reason: "does not follow the entry before it (an entry was removed or inserted)"
                    .into(),
            });
        }
        if entry_hash(&e.prev_hash, e.id, &e.entry) != e.hash {
            return Err(ChainBreak {
                id: e.id,
                reason: "its content does not match its hash (it was edited)".into(),
            });
        }
        prev = e.hash.clone();
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|id| {
                let entry = NewAuditEntry {
                    at: 1_700_000_000 + id,
                    actor: "operator (cli)".into(),
                    action: "mailbox.suspend".into(),
                    target: format!("user{id}@example.gov.vn"),
                    ..Default::default()
                };
                let hash = entry_hash(&prev, id, &entry);
                let e = AuditEntry {
                    id,
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
        assert_eq!(verify_chain(&[]), Ok(0));
    }

    #[test]
    fn edit_delete_and_insert_are_found() {
        let mut edited = chain(5);
        edited[2].entry.target = "someone-else@example.gov.vn".into();
        assert_eq!(verify_chain(&edited).unwrap_err().id, 3);

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted).unwrap_err().id, 3);

        // Field boundaries matter: moving text from one field to the next changes the hash.
        let a = NewAuditEntry {
            actor: "ab".into(),
            role: "c".into(),
            ..Default::default()
        };
        let b = NewAuditEntry {
            actor: "a".into(),
            role: "bc".into(),
            ..Default::default()
        };
        assert_ne!(entry_hash(GENESIS, 1, &a), entry_hash(GENESIS, 1, &b));
    }
}
