//! Purging a revoked mailbox (R-ACC-5) and collecting the message files nobody holds any more,
//! against the embedded backend with its blob store:
//! - only a revoked mailbox can be purged, and only once; the row stays as a tombstone whose
//!   address cannot be taken again and with which nobody can log in;
//! - its folders, grants both ways and app passwords go; another mailbox's copy of a shared
//!   message stays readable, and so does a queued message's body;
//! - garbage collection removes exactly the bodies no mailbox, queue entry or quarantine holds;
//! - a delivery of bytes whose file was collected after its `put` fails instead of committing
//!   a message without a body, and succeeds once the file is written again.

use congvu_core::{Flags, SpecialUse};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance::{new_account, put_message};
use congvu_store::sqlite::SqliteStore;
use congvu_store::{
    AccountState, BlobStore, Delivery, DeliveryTarget, FolderTarget, NewAccount, NewAppPassword,
    NewQueuedMessage, StateChange, Store, StoreError,
};
use std::sync::Arc;

async fn open(dir: &std::path::Path) -> (Arc<dyn Store>, Arc<dyn BlobStore>) {
    let store = SqliteStore::open(&dir.join("meta.sqlite"))
        .await
        .expect("store");
    let blobs: Arc<dyn BlobStore> =
        Arc::new(FsBlobStore::open(&dir.join("blobs")).await.expect("blobs"));
    store.guard_blobs(blobs.clone());
    (Arc::new(store), blobs)
}

fn inbox(account: &congvu_store::Account) -> DeliveryTarget {
    DeliveryTarget {
        account: account.id,
        folder: FolderTarget::Special(SpecialUse::Inbox),
        flags: Flags::default(),
    }
}

fn delivery(
    msg: &congvu_store::conformance::TestMessage,
    targets: Vec<DeliveryTarget>,
) -> Delivery {
    Delivery {
        blob: msg.blob.clone(),
        index: msg.index.clone(),
        internal_date: 1_750_000_000,
        targets,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_content_keeps_tombstone_and_collects_only_garbage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let gone = new_account(&store, "thuhoi").await;
    let other = new_account(&store, "conlai").await;

    let alone = put_message(&blobs, "a@b.vn", "chỉ một hộp thư", "riêng").await;
    let shared = put_message(&blobs, "a@b.vn", "hai hộp thư", "chung").await;
    let queued = put_message(&blobs, "a@b.vn", "đang chờ gửi", "hàng đợi").await;
    store
        .deliver(delivery(&alone, vec![inbox(&gone)]))
        .await
        .expect("deliver");
    store
        .deliver(delivery(&shared, vec![inbox(&gone), inbox(&other)]))
        .await
        .expect("deliver");
    store
        .deliver(delivery(&queued, vec![inbox(&gone)]))
        .await
        .expect("deliver");
    store
        .enqueue(NewQueuedMessage {
            blob: queued.blob.clone(),
            mail_from: gone.address.clone(),
            recipients: vec!["ai@do.example".into()],
            created_at: 1_750_000_000,
            submitted_by: None,
        })
        .await
        .expect("enqueue");
    store
        .set_grant(gone.id, other.id, "lr")
        .await
        .expect("grant");
    store
        .set_grant(other.id, gone.id, "lr")
        .await
        .expect("grant");
    store
        .add_app_password(NewAppPassword {
            account: gone.id,
            label: "điện thoại".into(),
            password_hash: "$argon2id$x".into(),
            created_at: 1_750_000_000,
        })
        .await
        .expect("app password");

    // Active: refused, nothing changed.
    match store.purge_account(gone.id, 1_800_000_000, "test").await {
        Err(StoreError::Invalid(text)) => assert!(text.contains("only a revoked"), "{text}"),
        other => panic!("purging an active mailbox: {other:?}"),
    }
    store
        .change_account_state(
            gone.id,
            StateChange {
                from: AccountState::Active,
                to: AccountState::Revoked,
                at: 1_750_000_100,
                reason: "nghỉ hưu".into(),
            },
        )
        .await
        .expect("revoke");

    let removed = store
        .purge_account(gone.id, 1_800_000_000, "hết thời hạn lưu giữ")
        .await
        .expect("purge");
    assert_eq!(removed.messages, 3);
    assert!(
        removed.folders >= 5,
        "INBOX and the special-use folders: {removed:?}"
    );

    let tombstone = store
        .account_by_id(gone.id)
        .await
        .expect("read")
        .expect("row kept");
    assert_eq!(tombstone.state, AccountState::Purged);
    assert_eq!(tombstone.password_hash, "!");
    assert!(
        store
            .list_folders(gone.id)
            .await
            .expect("folders")
            .is_empty()
    );
    assert!(store.grants_to(other.id).await.expect("grants").is_empty());
    assert!(store.grants_on(other.id).await.expect("grants").is_empty());
    assert!(
        store
            .app_passwords(gone.id)
            .await
            .expect("app passwords")
            .is_empty()
    );
    let history = store.state_history(gone.id).await.expect("history");
    let last = history.last().expect("history kept");
    assert_eq!(
        (last.from, last.to),
        (AccountState::Revoked, AccountState::Purged)
    );
    assert!(
        store
            .create_account(NewAccount {
                address: gone.address.clone(),
                display_name: "Người khác".into(),
                password_hash: "$argon2id$y".into(),
                kind: congvu_store::AccountKind::Person,
                created_at: 1_800_000_001,
            })
            .await
            .is_err(),
        "a purged address is never given out again"
    );
    match store.purge_account(gone.id, 1_800_000_002, "again").await {
        Err(StoreError::Invalid(text)) => assert!(text.contains("purged already"), "{text}"),
        other => panic!("purging twice: {other:?}"),
    }

    let garbage = store
        .collect_garbage(blobs.as_ref(), 1_800_000_003)
        .await
        .expect("gc");
    assert_eq!(garbage.messages, 1, "only the message no one else holds");
    assert_eq!(garbage.bytes, alone.index.size);
    assert!(matches!(
        blobs.get(&alone.blob).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        blobs.get(&shared.blob).await.is_ok(),
        "the other mailbox's copy"
    );
    assert!(
        blobs.get(&queued.blob).await.is_ok(),
        "the queued message's body"
    );
    let again = store
        .collect_garbage(blobs.as_ref(), 1_800_000_004)
        .await
        .expect("gc");
    assert_eq!(again.messages, 0);

    // The collected bytes delivered again, as if their `put` had found the file just before
    // the collection deleted it: refused, nothing stored. Written again: delivered.
    match store.deliver(delivery(&alone, vec![inbox(&other)])).await {
        Err(StoreError::Unavailable(text)) => assert!(text.contains("removed"), "{text}"),
        other => panic!("delivery without its file: {other:?}"),
    }
    let refused_queue = store
        .enqueue(NewQueuedMessage {
            blob: alone.blob.clone(),
            mail_from: other.address.clone(),
            recipients: vec!["ai@do.example".into()],
            created_at: 1_800_000_005,
            submitted_by: None,
        })
        .await;
    assert!(matches!(refused_queue, Err(StoreError::Unavailable(_))));
    let rewritten = put_message(&blobs, "a@b.vn", "chỉ một hộp thư", "riêng").await;
    assert_eq!(rewritten.blob, alone.blob);
    store
        .deliver(delivery(&rewritten, vec![inbox(&other)]))
        .await
        .expect("delivered once the file is back");
    assert!(blobs.get(&alone.blob).await.is_ok());
}
