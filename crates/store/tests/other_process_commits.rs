//! What another process commits (the CLI's `purge`, `quarantine release`) reaches a running
//! store: once it notices the commit (`Store::notice_other_writers`, which every login calls),
//! the message bodies it kept in memory are dropped, so a purged message leaves no copy in
//! the server's memory, and later reads go to the disk again.

use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{BlobStore, Store, StoreError};
use std::sync::Arc;

#[tokio::test]
async fn another_process_commit_empties_the_blob_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("meta.sqlite");
    let server = SqliteStore::open(&db).await.expect("open store");
    let blobs = Arc::new(
        FsBlobStore::open(&dir.path().join("blobs"))
            .await
            .expect("blobs"),
    );
    server.guard_blobs(blobs.clone());

    // The server has just written a message: it keeps the bytes in memory.
    let hash = blobs
        .put(b"Subject: TUYET MAT\r\n\r\nsecret")
        .await
        .expect("put");
    std::fs::write(blobs.path_of(&hash).expect("path"), b"changed on disk").expect("write");
    assert!(blobs.get(&hash).await.is_ok(), "served from memory");

    // Nothing committed elsewhere: noticing changes nothing.
    server.notice_other_writers().await;
    assert!(blobs.get(&hash).await.is_ok(), "still served from memory");

    // Another connection to the same file, as the CLI is, commits something.
    let cli: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await.expect("open as the CLI"));
    conformance::new_account(&cli, "an").await;
    server.notice_other_writers().await;
    assert!(
        matches!(blobs.get(&hash).await, Err(StoreError::Unavailable(_))),
        "read from the disk again, where the file no longer matches its hash"
    );
}
