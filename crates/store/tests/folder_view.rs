//! The shared folder view (`Store::folder_view`) and the Date header copy that SORT (DATE)
//! reads (migration 0009), against the embedded backend:
//! - every way an entry is made (delivery, COPY, MOVE, renaming INBOX) carries its message's
//!   Date header, and a message without one has none;
//! - the view of a large (cached) folder, brought up to date from what changed, equals the
//!   view a freshly opened store reads whole, after flag changes, expunges and deliveries;
//! - an unchanged folder hands out the same view again (no copy).

use congvu_core::{Flags, SpecialUse, flags::FlagOp};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance::{self, TestMessage};
use congvu_store::sqlite::SqliteStore;
use congvu_store::{
    Account, BlobStore, Delivery, DeliveryTarget, Folder, FolderTarget, FolderView, Store, Uid,
};
use std::path::Path;
use std::sync::Arc;

async fn open(dir: &Path) -> (Arc<dyn Store>, Arc<dyn BlobStore>) {
    let store = SqliteStore::open(&dir.join("meta.sqlite"))
        .await
        .expect("open sqlite store");
    let blobs = FsBlobStore::open(&dir.join("blobs"))
        .await
        .expect("open blob store");
    (Arc::new(store), Arc::new(blobs))
}

/// A message whose Date header says `sent_at` (None: no Date header).
async fn message(blobs: &Arc<dyn BlobStore>, n: usize, sent_at: Option<i64>) -> TestMessage {
    let mut msg =
        conformance::put_message(blobs, "Sở <so@tinh.gov.vn>", &format!("Công văn {n}"), "x").await;
    let mut index = (*msg.index).clone();
    index.sent_at = sent_at;
    msg.index = Arc::new(index);
    msg
}

async fn deliver(store: &Arc<dyn Store>, msg: &TestMessage, account: &Account) -> Uid {
    store
        .deliver(Delivery {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            internal_date: 1_750_000_000,
            targets: vec![DeliveryTarget {
                account: account.id,
                folder: FolderTarget::Special(SpecialUse::Inbox),
                flags: Flags::default(),
            }],
        })
        .await
        .expect("deliver")[0]
        .uid
}

async fn view(store: &Arc<dyn Store>, folder: &Folder) -> Arc<FolderView> {
    let current = store
        .folder_by_id(folder.id)
        .await
        .expect("folder_by_id")
        .expect("folder exists");
    store.folder_view(&current).await.expect("folder_view")
}

fn dates(v: &Arc<FolderView>) -> Vec<(Uid, Option<i64>)> {
    v.messages
        .iter()
        .zip(&v.sent_at)
        .map(|(m, d)| (m.uid, *d))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_carries_its_date_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let account = conformance::new_account(&store, "ngay").await;
    let inbox = conformance::folder(&store, &account, "INBOX").await;
    let dated = message(&blobs, 1, Some(1_600_000_000)).await;
    let undated = message(&blobs, 2, None).await;
    let a = deliver(&store, &dated, &account).await;
    let b = deliver(&store, &undated, &account).await;
    assert_eq!(
        dates(&view(&store, &inbox).await),
        vec![(a, Some(1_600_000_000)), (b, None)]
    );
    assert_eq!(
        store.sent_dates(inbox.id).await.expect("sent_dates"),
        vec![(a, Some(1_600_000_000)), (b, None)]
    );

    let archive = store
        .create_folder(account.id, "Lưu trữ", None)
        .await
        .expect("create");
    store
        .copy_messages(inbox.id, &[a], archive.id)
        .await
        .expect("copy");
    store
        .move_messages(inbox.id, &[b], archive.id)
        .await
        .expect("move");
    assert_eq!(
        dates(&view(&store, &archive).await),
        vec![(1, Some(1_600_000_000)), (2, None)]
    );
    assert_eq!(
        dates(&view(&store, &inbox).await),
        vec![(a, Some(1_600_000_000))]
    );

    // Renaming INBOX moves its messages into a new folder (RFC 9051 §6.3.6).
    store
        .rename_folder(account.id, "INBOX", "Cũ")
        .await
        .expect("rename INBOX");
    let old = conformance::folder(&store, &account, "Cũ").await;
    assert_eq!(
        dates(&view(&store, &old).await),
        vec![(1, Some(1_600_000_000))]
    );
}

/// Above the cache threshold (2,000 messages) the view is kept and patched; it must equal
/// what a store with an empty cache reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_view_equals_a_fresh_read() {
    const N: usize = 2_100;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let account = conformance::new_account(&store, "lon").await;
    let inbox = conformance::folder(&store, &account, "INBOX").await;
    // One body, many entries: the store indexes a blob once, so this is quick.
    let msg = message(&blobs, 0, Some(1_650_000_000)).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let account = account.clone();
        let msg = TestMessage {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            raw_len: msg.raw_len,
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..N / 8 + 1 {
                deliver(&store, &msg, &account).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("delivery task");
    }

    let first = view(&store, &inbox).await;
    assert!(first.messages.len() > 2_000);
    assert_eq!(first.first_unseen, Some(0));
    // Nothing changed: the very same view, not a copy.
    let again = view(&store, &inbox).await;
    assert!(Arc::ptr_eq(&first.messages, &again.messages));

    // Flags, an expunge in the middle, a new message without a Date header.
    let seen = Flags::from_names(["\\Seen"]);
    let all: Vec<Uid> = first.messages.iter().map(|m| m.uid).collect();
    store
        .store_flags(inbox.id, &all[..10], FlagOp::Add, &seen, None)
        .await
        .expect("flag");
    let deleted = Flags::from_names(["\\Deleted"]);
    store
        .store_flags(inbox.id, &all[100..110], FlagOp::Add, &deleted, None)
        .await
        .expect("flag deleted");
    let gone = store.expunge(inbox.id, None).await.expect("expunge");
    assert_eq!(gone, all[100..110].to_vec());
    let undated = message(&blobs, 1, None).await;
    let newest = deliver(&store, &undated, &account).await;

    let patched = view(&store, &inbox).await;
    assert_eq!(patched.messages.len(), all.len() - 10 + 1);
    assert_eq!(patched.first_unseen, Some(10));
    assert_eq!(patched.messages.last().map(|m| m.uid), Some(newest));
    assert_eq!(patched.sent_at.last(), Some(&None));

    // The same folder read whole by a store that never saw it.
    drop(store);
    let (fresh, _) = open(dir.path()).await;
    let whole = view(&fresh, &inbox).await;
    assert_eq!(whole.messages, patched.messages);
    assert_eq!(whole.sent_at, patched.sent_at);
    assert_eq!(whole.modseq, patched.modseq);
    assert_eq!(whole.first_unseen, patched.first_unseen);
}
