//! The conformance suite (`congvu_store::conformance`) against the embedded backend:
//! `SqliteStore` + `FsBlobStore` in a fresh temporary directory per test, plus what only an
//! embedded store can show: everything is still there after the store is closed (or merely
//! dropped) and opened again.

use congvu_core::{Flags, SpecialUse, flags::FlagOp};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{BlobStore, Delivery, DeliveryTarget, FolderTarget, Store};
use std::path::Path;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
}

async fn open_in(dir: &Path) -> (SqliteStore, FsBlobStore) {
    let store = SqliteStore::open(&dir.join("meta.sqlite"))
        .await
        .expect("open sqlite store");
    let blobs = FsBlobStore::open(&dir.join("blobs"))
        .await
        .expect("open blob store");
    (store, blobs)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open_in(dir.path()).await;
    Fixture {
        _dir: dir,
        store: Arc::new(store),
        blobs: Arc::new(blobs),
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let f = fixture().await;
                conformance::$name(&f.store, &f.blobs).await;
            }
        )*
    };
}

conformance_tests!(
    accounts_and_folders,
    delivery_is_stored_once,
    failed_delivery_changes_nothing,
    uids_increase_and_are_never_reused,
    flags_and_unchangedsince,
    copy_and_move,
    expunge_and_changes_since,
    rename_with_children_and_inbox,
    delete_folder_and_recreate,
    search_with_and_without_diacritics,
    concurrent_deliveries_get_distinct_uids,
    notifications_follow_commits,
    grants_delegate_mailboxes,
    queue_claims_leases_and_records,
);

/// All checks on one shared store, as a backend with costly set-up would run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let f = fixture().await;
    conformance::run_all(f.store.clone(), f.blobs.clone()).await;
}

/// Durability across restart: what was acknowledged before `close` (and before a plain drop)
/// is found after opening the same files again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blobs) = open_in(dir.path()).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let blobs: Arc<dyn BlobStore> = Arc::new(blobs);
    let account = conformance::new_account(&store, "durable").await;
    let msg =
        conformance::put_message(&blobs, "Sở <so@tinh.gov.vn>", "Quyết định số 7", "Nội dung")
            .await;
    let targets = vec![DeliveryTarget {
        account: account.id,
        folder: FolderTarget::Special(SpecialUse::Inbox),
        flags: Flags::default(),
    }];
    let delivered = store
        .deliver(Delivery {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            internal_date: 42,
            targets,
        })
        .await
        .expect("deliver");
    let inbox = delivered[0].folder;
    store
        .store_flags(
            inbox,
            &[1],
            FlagOp::Add,
            &Flags::from_names(["\\Seen", "Quan_trọng"]),
            None,
        )
        .await
        .expect("flag");
    store
        .create_folder(account.id, "Công văn đến", None)
        .await
        .expect("create");
    let mut expected = store
        .folder_by_id(inbox)
        .await
        .expect("lookup")
        .expect("inbox");
    drop(store);
    drop(blobs);

    // Wait for the dropped store's writer to finish (it ends when its queue closes), then
    // reopen. A second reopen goes through the explicit `close`.
    for round in 0..2 {
        let (sqlite, fs) = open_in(dir.path()).await;
        let found = sqlite
            .account_by_address("durable@conformance.test")
            .await
            .expect("lookup")
            .expect("account");
        assert_eq!(found.id, account.id, "round {round}");
        let folder = sqlite
            .folder_by_id(inbox)
            .await
            .expect("lookup")
            .expect("inbox");
        assert_eq!(folder, expected, "round {round}");
        assert!(
            sqlite
                .folder_by_name(account.id, "Công văn đến")
                .await
                .expect("lookup")
                .is_some()
        );
        let listed = sqlite.list_messages(inbox).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].flags, Flags::from_names(["\\Seen", "Quan_trọng"]));
        assert_eq!(listed[0].internal_date, 42);
        let record = &sqlite.fetch_records(inbox, &[1]).await.expect("fetch")[0];
        assert_eq!(record.index.subject, "Quyết định số 7");
        assert_eq!(
            sqlite
                .search_text(inbox, congvu_store::TextField::Subject, "quyet dinh")
                .await
                .expect("search"),
            vec![1]
        );
        let body = fs.get(&record.blob).await.expect("blob after reopen");
        assert_eq!(body.len() as u64, msg.raw_len);
        // New deliveries continue the UID sequence.
        let again = sqlite
            .deliver(Delivery {
                blob: msg.blob.clone(),
                index: msg.index.clone(),
                internal_date: 43,
                targets: vec![DeliveryTarget {
                    account: account.id,
                    folder: FolderTarget::Id(inbox),
                    flags: Flags::default(),
                }],
            })
            .await
            .expect("deliver after reopen");
        assert_eq!(again[0].uid, 2 + round);
        sqlite
            .store_flags(
                inbox,
                &[again[0].uid],
                FlagOp::Add,
                &Flags::from_names(["\\Deleted"]),
                None,
            )
            .await
            .expect("flag");
        sqlite.expunge(inbox, None).await.expect("expunge");
        expected = sqlite
            .folder_by_id(inbox)
            .await
            .expect("lookup")
            .expect("inbox");
        sqlite.close().await.expect("close");
    }
}

/// Group commit under the SMTP load shape: 20 concurrent senders, each delivering one
/// message after another to several mailboxes. Every delivery is fsynced before it returns;
/// throughput comes from batching, so it must stay far above one fsync per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_throughput() {
    const SENDERS: usize = 20;
    const PER_SENDER: usize = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, fs) = open_in(dir.path()).await;
    let sqlite = Arc::new(sqlite);
    let f = Fixture {
        _dir: dir,
        store: sqlite.clone(),
        blobs: Arc::new(fs),
    };
    let accounts = [
        conformance::new_account(&f.store, "load-1").await,
        conformance::new_account(&f.store, "load-2").await,
    ];
    let stats_before = sqlite.delivery_stats();
    let mut messages = Vec::new();
    for i in 0..SENDERS * PER_SENDER {
        messages.push(
            conformance::put_message(&f.blobs, "a@b.vn", &format!("tải {i}"), "nội dung thư").await,
        );
    }
    let messages = Arc::new(messages);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let store = f.store.clone();
        let messages = messages.clone();
        let targets: Vec<DeliveryTarget> = accounts
            .iter()
            .map(|a| DeliveryTarget {
                account: a.id,
                folder: FolderTarget::Special(SpecialUse::Inbox),
                flags: Flags::default(),
            })
            .collect();
        tasks.spawn(async move {
            for i in 0..PER_SENDER {
                let msg = &messages[sender * PER_SENDER + i];
                store
                    .deliver(Delivery {
                        blob: msg.blob.clone(),
                        index: msg.index.clone(),
                        internal_date: 0,
                        targets: targets.clone(),
                    })
                    .await
                    .expect("deliver");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("sender");
    }
    let elapsed = started.elapsed();
    let total = SENDERS * PER_SENDER;
    let rate = total as f64 / elapsed.as_secs_f64();
    let stats = sqlite.delivery_stats();
    let batches = stats.batches - stats_before.batches;
    assert_eq!(stats.deliveries - stats_before.deliveries, total as u64);
    println!(
        "{total} deliveries (2 mailboxes each) in {elapsed:?}: {rate:.0}/s, {batches} commits"
    );
    // With 20 senders waiting on each commit, most commits must carry several deliveries.
    assert!(
        batches * 3 < total as u64,
        "no group commit: {batches} commits for {total} deliveries"
    );
    for account in &accounts {
        let inbox = conformance::folder(&f.store, account, "INBOX").await;
        assert_eq!(
            f.store
                .folder_status(inbox.id)
                .await
                .expect("status")
                .messages as usize,
            total
        );
    }
    // A debug build on a slow CI disk still batches; one fsync per message would be far below.
    assert!(
        rate > 200.0,
        "group commit too slow: {rate:.0} deliveries/s"
    );
}

/// Grants are on disk: after closing and opening the same files they are all still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _blobs) = open_in(dir.path()).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let unit = conformance::new_account(&store, "vanphong").await;
    let clerk = conformance::new_account(&store, "vanthu").await;
    store
        .set_grant(unit.id, clerk.id, "lrswp")
        .await
        .expect("grant");
    drop(store);
    let (sqlite, _blobs) = open_in(dir.path()).await;
    let grants = sqlite.grants_to(clerk.id).await.expect("grants_to");
    assert_eq!(
        grants,
        vec![congvu_store::Grant {
            mailbox: unit.id,
            grantee: clerk.id,
            rights: "lrswp".to_string(),
        }]
    );
    sqlite.close().await.expect("close");
}

/// Delivers `count` messages to `account`'s INBOX; their UIDs.
async fn fill_inbox(f: &Fixture, account: &congvu_store::Account, count: usize) -> Vec<u32> {
    let mut uids = Vec::new();
    for i in 0..count {
        let msg =
            conformance::put_message(&f.blobs, "a@b.vn", &format!("thư {i}"), "nội dung").await;
        let done = f
            .store
            .deliver(Delivery {
                blob: msg.blob.clone(),
                index: msg.index.clone(),
                internal_date: 0,
                targets: vec![DeliveryTarget {
                    account: account.id,
                    folder: FolderTarget::Special(SpecialUse::Inbox),
                    flags: Flags::default(),
                }],
            })
            .await
            .expect("deliver");
        uids.push(done[0].uid);
    }
    uids
}

/// STOREs and EXPUNGEs of many sessions share the mailbox writer's commits (one fsync for
/// several), each still takes its own MODSEQ in the order it was made, and by the time a
/// caller is answered the store already knows its folder changed (`unchanged_since`), so an
/// IMAP session's sync right after its own command cannot miss it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_and_expunge_writes_share_commits() {
    const SESSIONS: usize = 16;
    const ROUNDS: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, fs) = open_in(dir.path()).await;
    let sqlite = Arc::new(sqlite);
    let f = Fixture {
        _dir: dir,
        store: sqlite.clone(),
        blobs: Arc::new(fs),
    };
    let mut work = Vec::new();
    for s in 0..SESSIONS {
        let account = conformance::new_account(&f.store, &format!("ghi-{s}")).await;
        let uids = fill_inbox(&f, &account, ROUNDS).await;
        let inbox = conformance::folder(&f.store, &account, "INBOX").await;
        work.push((inbox, uids));
    }
    let before = sqlite.delivery_stats();
    let mut tasks = tokio::task::JoinSet::new();
    for (inbox, uids) in work {
        let store = f.store.clone();
        tasks.spawn(async move {
            let flagged = Flags::from_names(["\\Flagged"]);
            let deleted = Flags::from_names(["\\Deleted"]);
            let mut last = inbox.highest_modseq;
            for uid in uids {
                let r = store
                    .store_flags(inbox.id, &[uid], FlagOp::Add, &flagged, None)
                    .await
                    .expect("store");
                let modseq = r.modseq.expect("a change takes a MODSEQ");
                assert!(modseq > last, "MODSEQ must grow: {modseq} after {last}");
                assert_eq!(r.updated[0].modseq, modseq);
                assert!(store.unchanged_since(inbox.id, modseq));
                assert!(!store.unchanged_since(inbox.id, last));
                last = modseq;
                store
                    .store_flags(inbox.id, &[uid], FlagOp::Add, &deleted, None)
                    .await
                    .expect("delete");
                let removed = store
                    .expunge(inbox.id, Some(&[uid]))
                    .await
                    .expect("expunge");
                assert_eq!(removed, vec![uid]);
                let changes = store.changes_since(inbox.id, last).await.expect("changes");
                assert_eq!(changes.expunged, vec![uid]);
                last = changes.highest_modseq;
                assert!(store.unchanged_since(inbox.id, last));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("session");
    }
    let stats = sqlite.delivery_stats();
    let writes = stats.writes - before.writes;
    let commits = stats.write_batches - before.write_batches;
    assert_eq!(writes, (SESSIONS * ROUNDS * 3) as u64);
    assert_eq!(stats.deliveries, before.deliveries, "no delivery was made");
    println!("{writes} flag/expunge writes in {commits} commits");
    assert!(
        commits * 2 < writes,
        "no group commit: {commits} commits for {writes} writes"
    );
}

/// A change committed by another process (here a second store on the same file, as the CLI
/// would be) is noticed within the watch interval: `unchanged_since` stops claiming the
/// folder is unchanged, and the cached folder row is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_changes_are_noticed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, fs) = open_in(dir.path()).await;
    let f = Fixture {
        _dir: dir,
        store: Arc::new(sqlite),
        blobs: Arc::new(fs),
    };
    let account = conformance::new_account(&f.store, "cli").await;
    let uids = fill_inbox(&f, &account, 1).await;
    let inbox = conformance::folder(&f.store, &account, "INBOX").await;
    let changes = f.store.changes_since(inbox.id, 0).await.expect("changes");
    assert!(f.store.unchanged_since(inbox.id, changes.highest_modseq));
    let (other, _) = open_in(f._dir.path()).await;
    let r = other
        .store_flags(
            inbox.id,
            &uids,
            FlagOp::Add,
            &Flags::from_names(["\\Seen"]),
            None,
        )
        .await
        .expect("store from the other process");
    let modseq = r.modseq.expect("changed");
    other.close().await.expect("close other");
    let deadline = std::time::Instant::now() + 3 * congvu_store::sqlite::WATCH_INTERVAL;
    while f.store.unchanged_since(inbox.id, changes.highest_modseq) {
        assert!(std::time::Instant::now() < deadline, "change never noticed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let again = conformance::folder(&f.store, &account, "INBOX").await;
    assert_eq!(again.highest_modseq, modseq);
}
