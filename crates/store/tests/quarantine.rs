//! The quarantine, purge look-up and forwarding conformance check
//! (`congvu_store::conformance_quarantine`) on SqliteStore + FsBlobStore.

use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance_quarantine;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{BlobStore, Store};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_purge_lookup_and_forwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let blobs: Arc<dyn BlobStore> = Arc::new(
        FsBlobStore::open(&dir.path().join("blobs"))
            .await
            .expect("blobs"),
    );
    conformance_quarantine::run_all(store, blobs).await;
}
