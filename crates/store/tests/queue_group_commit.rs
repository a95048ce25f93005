//! The outbound queue's group commit (sqlite/queue.rs) against the embedded backend:
//! - many enqueues at once each get their own id, and every one is in the queue once they
//!   returned, also after the store is closed and opened again (an `Ok` means durable);
//! - a message whose file is gone is refused inside the batch (the garbage-collection guard is
//!   checked per message), and the messages batched with it are queued all the same;
//! - many deletes and attempt records at once each get their own answer: `NotFound` for a
//!   message that is not there, without undoing the others.

use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance::put_message;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{
    AttemptOutcome, BlobHash, BlobStore, NewQueuedMessage, QueueAttempt, QueueStatus, Store,
    StoreError,
};
use std::collections::HashSet;
use std::sync::Arc;

async fn open(dir: &std::path::Path) -> (SqliteStore, Arc<dyn BlobStore>) {
    let store = SqliteStore::open(&dir.join("meta.sqlite"))
        .await
        .expect("store");
    let blobs: Arc<dyn BlobStore> =
        Arc::new(FsBlobStore::open(&dir.join("blobs")).await.expect("blobs"));
    store.guard_blobs(blobs.clone());
    (store, blobs)
}

fn queued(blob: &BlobHash, n: usize) -> NewQueuedMessage {
    NewQueuedMessage {
        blob: blob.clone(),
        mail_from: "gui@example.gov.vn".into(),
        recipients: vec![format!("nhan{n}@xa.example"), format!("ban{n}@xa.example")],
        created_at: 1_750_000_000,
        submitted_by: Some("gui@example.gov.vn".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queue_writes_are_answered_one_by_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let store = Arc::new(store);
    let msg = put_message(&blobs, "gui@example.gov.vn", "hàng đợi", "nội dung").await;
    let missing = BlobHash::of(b"never stored");

    let mut tasks = Vec::new();
    for n in 0..200 {
        let (each, blob) = (store.clone(), msg.blob.clone());
        tasks.push(tokio::spawn(
            async move { each.enqueue(queued(&blob, n)).await },
        ));
        if n == 100 {
            let store = store.clone();
            let missing = missing.clone();
            tasks.push(tokio::spawn(async move {
                store.enqueue(queued(&missing, n)).await
            }));
        }
    }
    let mut ids = HashSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(id) => assert!(ids.insert(id), "id {id} given twice"),
            Err(StoreError::Unavailable(text)) => {
                assert!(text.contains("was removed"), "{text}");
                refused += 1;
            }
            Err(other) => panic!("enqueue: {other:?}"),
        }
    }
    assert_eq!((ids.len(), refused), (200, 1));
    let listed = store.list_queue().await.expect("list");
    assert_eq!(listed.len(), 200);
    assert!(
        listed
            .iter()
            .all(|e| e.blob == msg.blob && e.recipients.len() == 2)
    );

    // Every Ok was committed: a fresh open sees all of them.
    let store = Arc::try_unwrap(store).ok().expect("only owner");
    store.close().await.expect("close");
    let (store, _blobs) = open(dir.path()).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let listed = store.list_queue().await.expect("list after reopening");
    assert_eq!(listed.len(), 200);

    // Attempts and deletes at once, plus one delete of a message that is not there.
    let mut tasks = Vec::new();
    for entry in listed {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let first = entry.recipients[0].id;
            store
                .record_attempt(QueueAttempt {
                    recipient: first,
                    at: 1_750_000_100,
                    outcome: AttemptOutcome::Delivered,
                    remote_host: Some("mx.xa.example".into()),
                    remote_response: Some("250 2.0.0 ok".into()),
                })
                .await?;
            if entry.id % 2 == 0 {
                store.delete_queued(entry.id).await?;
            }
            Ok::<_, StoreError>(entry.id)
        }));
    }
    let absent = ids.iter().max().expect("ids") + 1000;
    let store2 = store.clone();
    tasks.push(tokio::spawn(async move {
        match store2.delete_queued(absent).await {
            Err(StoreError::NotFound(_)) => Ok(absent),
            other => panic!("deleting an absent message: {other:?}"),
        }
    }));
    for task in tasks {
        task.await.expect("task").expect("queue write");
    }
    let left = store.list_queue().await.expect("list");
    assert_eq!(left.len(), 100, "the odd ids stay");
    for entry in &left {
        assert_eq!(entry.id % 2, 1);
        let statuses: Vec<_> = entry.recipients.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [QueueStatus::Delivered, QueueStatus::Pending]);
    }
}
