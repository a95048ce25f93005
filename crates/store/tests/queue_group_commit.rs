//! The outbound queue's group commit (sqlite/queue.rs) against the embedded backend:
//! - many enqueues at once each get their own id, and every one is in the queue once they
//!   returned, also after the store is closed and opened again (an `Ok` means durable);
//! - a message whose file is gone is refused inside the batch (the garbage-collection guard is
//!   checked per message), and the messages batched with it are queued all the same;
//! - many deletes and attempt records at once each get their own answer: `NotFound` for a
//!   message that is not there, without undoing the others;
//! - a message with more recipients than one insert statement carries keeps all of them;
//! - `delete_queued_if_finished` removes a message only when no recipient other than the
//!   finished ones is pending, and claims ride in the same batches.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_recipients_and_conditional_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let msg = put_message(&blobs, "gui@example.gov.vn", "nhiều người nhận", "nội dung").await;
    let t0 = 1_750_000_000;

    // 250 recipients: three insert statements under one savepoint.
    let many = NewQueuedMessage {
        recipients: (0..250).map(|n| format!("nhan{n}@xa.example")).collect(),
        ..queued(&msg.blob, 0)
    };
    let big = store.enqueue(many).await.expect("enqueue 250");
    let entry = store.queue_entry(big).await.expect("read").expect("queued");
    assert_eq!(entry.recipients.len(), 250);

    // Two recipients; one finished is not enough, both are.
    let two = store
        .enqueue(queued(&msg.blob, 1))
        .await
        .expect("enqueue 2");
    let claimed = store
        .claim_due(t0, 1000, std::time::Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(
        claimed.iter().map(|e| e.recipients.len()).sum::<usize>(),
        252,
        "every due recipient is claimed once"
    );
    let entry = store.queue_entry(two).await.expect("read").expect("queued");
    let (first, second) = (entry.recipients[0].id, entry.recipients[1].id);
    assert!(
        !store
            .delete_queued_if_finished(two, &[first])
            .await
            .expect("conditional delete")
    );
    assert!(store.queue_entry(two).await.expect("read").is_some());

    // The second recipient failed for good: the first alone now finishes the message.
    store
        .record_attempt(QueueAttempt {
            recipient: second,
            at: t0 + 1,
            outcome: AttemptOutcome::Failed {
                error: "550 5.1.1 no such user".into(),
            },
            remote_host: None,
            remote_response: None,
        })
        .await
        .expect("record");
    assert!(
        store
            .delete_queued_if_finished(two, &[first])
            .await
            .expect("conditional delete")
    );
    assert!(store.queue_entry(two).await.expect("read").is_none());
    // Gone already: false, not an error.
    assert!(
        !store
            .delete_queued_if_finished(two, &[first, second])
            .await
            .expect("conditional delete of a gone message")
    );

    // All 250 finished at once.
    let ids: Vec<i64> = store
        .queue_entry(big)
        .await
        .expect("read")
        .expect("queued")
        .recipients
        .iter()
        .map(|r| r.id)
        .collect();
    assert!(
        store
            .delete_queued_if_finished(big, &ids)
            .await
            .expect("conditional delete")
    );
    assert!(store.list_queue().await.expect("list").is_empty());
}
