//! The JSON API credentials conformance check (`congvu_store::conformance_api`) on SqliteStore.

use congvu_store::Store;
use congvu_store::conformance_api;
use congvu_store::sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_credentials_conform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    conformance_api::run_all(store).await;
}
