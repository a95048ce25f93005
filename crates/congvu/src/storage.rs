//! Opening the configured storage backend, and the clock and randomness the binary hands down
//! (only the binary reads them: STYLE.md).

use crate::config::Loaded;
use anyhow::{Context, Result};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{BlobStore, Store};
use std::sync::Arc;

/// Opens the embedded store: `DATA_DIR/congvu.db` and `DATA_DIR/blobs/`.
pub async fn open(loaded: &Loaded) -> Result<(Arc<dyn Store>, Arc<dyn BlobStore>)> {
    let data = loaded.data_dir();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("[storage] data_dir: cannot create {}", data.display()))?;
    let store = SqliteStore::open(&data.join("congvu.db"))
        .await
        .with_context(|| format!("opening the database in {}", data.display()))?;
    let blobs: Arc<dyn BlobStore> = Arc::new(
        FsBlobStore::open(&data.join("blobs"))
            .await
            .with_context(|| format!("opening the message files in {}", data.display()))?,
    );
    // Garbage collection (a purge) may run in this process or in another one: every new
    // reference to a message file checks the file is still there (store sqlite/garbage.rs).
    store.guard_blobs(blobs.clone());
    Ok((Arc::new(store), blobs))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn random_salt() -> [u8; 16] {
    rand::random()
}

/// A password that meets the administrator rules (R-POL-1): 16 characters drawn from all four
/// classes, with at least one of each.
pub fn random_password() -> String {
    use rand::Rng;
    use rand::seq::SliceRandom;
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SPECIAL: &[u8] = b"!@#%+=-_";
    let mut rng = rand::rng();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGIT, SPECIAL]
        .iter()
        .map(|set| set[rng.random_range(0..set.len())])
        .collect();
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, SPECIAL].concat();
    while chars.len() < 16 {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    String::from_utf8(chars).unwrap_or_default()
}
