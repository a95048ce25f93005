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

/// The writer brings cached views forward with each batch (`ViewCache::advance`), and FETCH
/// records, `changes_since` and header SEARCH are then answered from the view without a query.
/// All of it must equal what a second store, with nothing cached, reads from the database:
/// after concurrent flag changes (one message and many), expunges and deliveries, which the
/// writer commits in shared batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_kept_by_the_writer_equal_the_database() {
    use congvu_store::TextField;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open(dir.path()).await;
    let account = conformance::new_account(&store, "ghi").await;
    let inbox = conformance::folder(&store, &account, "INBOX").await;
    for n in 0..40 {
        let msg = message(&blobs, n, Some(1_600_000_000 + n as i64)).await;
        deliver(&store, &msg, &account).await;
    }
    let before = view(&store, &inbox).await;
    let since = before.modseq;
    let uids: Vec<Uid> = before.messages.iter().map(|m| m.uid).collect();

    let mut tasks = Vec::new();
    for t in 0..4usize {
        let (store, blobs, account, uids) =
            (store.clone(), blobs.clone(), account.clone(), uids.clone());
        tasks.push(tokio::spawn(async move {
            let flagged = Flags::from_names(["\\Flagged"]);
            let deleted = Flags::from_names(["\\Deleted"]);
            for round in 0..10usize {
                let uid = uids[(t * 10 + round) % uids.len()];
                let op = if round % 3 == 0 {
                    FlagOp::Remove
                } else {
                    FlagOp::Add
                };
                store
                    .store_flags(inbox.id, &[uid], op, &flagged, None)
                    .await
                    .expect("store one");
                if round % 4 == 1 {
                    let many = &uids[t * 10..t * 10 + 5];
                    store
                        .store_flags(
                            inbox.id,
                            many,
                            FlagOp::Add,
                            &Flags::from_names(["\\Seen"]),
                            None,
                        )
                        .await
                        .expect("store many");
                }
                if round % 5 == 2 {
                    let victim = uids[t * 10 + 9 - round / 5];
                    store
                        .store_flags(inbox.id, &[victim], FlagOp::Add, &deleted, None)
                        .await
                        .expect("mark deleted");
                    store
                        .expunge(inbox.id, Some(&[victim]))
                        .await
                        .expect("expunge");
                }
                if round % 3 == 1 {
                    let msg = message(&blobs, 100 + t * 10 + round, None).await;
                    deliver(&store, &msg, &account).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }

    let fresh: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.sqlite"))
            .await
            .expect("open a second store"),
    );
    // Changes first: the second store has no view yet, so this is read from the database.
    let expected = fresh
        .changes_since(inbox.id, since)
        .await
        .expect("changes, db");
    let got = store
        .changes_since(inbox.id, since)
        .await
        .expect("changes, view");
    assert_eq!(got, expected);
    assert!(!expected.expunged.is_empty() && !expected.changed.is_empty());

    let kept = view(&store, &inbox).await;
    let whole = view(&fresh, &inbox).await;
    assert_eq!(kept.modseq, whole.modseq);
    assert_eq!(kept.messages, whole.messages);
    assert_eq!(kept.sent_at, whole.sent_at);
    assert_eq!(kept.hashes, whole.hashes);
    assert_eq!(kept.first_unseen, whole.first_unseen);

    let all: Vec<Uid> = whole.messages.iter().map(|m| m.uid).collect();
    let records = |v: Vec<congvu_store::MessageRecord>| -> Vec<(Uid, String, u64)> {
        v.into_iter()
            .map(|r| (r.summary.uid, r.blob.0, r.index.size))
            .collect()
    };
    assert_eq!(
        records(
            store
                .fetch_records(inbox.id, &all)
                .await
                .expect("records, view")
        ),
        records(
            fresh
                .fetch_records(inbox.id, &all)
                .await
                .expect("records, db")
        )
    );
    for needle in ["cong van 1", "Công văn 2", "công văn", "nothing"] {
        assert_eq!(
            store
                .search_text(inbox.id, TextField::Subject, needle)
                .await
                .expect("search, memory"),
            fresh
                .search_text(inbox.id, TextField::Subject, needle)
                .await
                .expect("search, second store"),
            "SUBJECT {needle:?}"
        );
    }
    let hits = store
        .search_text(inbox.id, TextField::Subject, "cong van 1")
        .await
        .expect("search");
    assert!(!hits.is_empty());
}
