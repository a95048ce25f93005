//! The Sieve conformance check (`congvu_store::conformance_sieve`) on SqliteStore.

use congvu_store::Store;
use congvu_store::conformance_sieve;
use congvu_store::sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sieve_scripts_and_vacation_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    conformance_sieve::run_all(store).await;
}
