//! The store test suite, written once and run against every backend (SQLite + files today,
//! PostgreSQL later): each backend's `tests/` calls these functions with fresh stores.
//!
//! Every check is about behaviour the protocols rely on (RFC 9051 UIDs and folders, RFC 7162
//! MODSEQ, RFC 4315 COPYUID, RFC 6851 MOVE, the Vietnamese search rule), never about how a
//! backend stores it. Each function creates its own accounts (addresses are made unique per
//! function), so they may also share one store, as [`run_all`] does.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::{
    Account, AccountKind, AccountState, BlobHash, BlobStore, Delivered, Delivery, DeliveryTarget,
    Folder, FolderChange, FolderTarget, Grant, NewAccount, Store, StoreError, TextField, Uid,
};
use congvu_core::fold::{fold_diacritics, normalize_lower};
use congvu_core::{Flags, SpecialUse, flags::FlagOp};
use congvu_wire::mime::{MessageIndex, SearchFields, parse_message};
use std::sync::Arc;
use std::time::Duration;

/// Runs every check of the suite, one after the other, on the same stores.
pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    accounts_and_folders(&store, &blobs).await;
    delivery_is_stored_once(&store, &blobs).await;
    failed_delivery_changes_nothing(&store, &blobs).await;
    uids_increase_and_are_never_reused(&store, &blobs).await;
    flags_and_unchangedsince(&store, &blobs).await;
    copy_and_move(&store, &blobs).await;
    expunge_and_changes_since(&store, &blobs).await;
    rename_with_children_and_inbox(&store, &blobs).await;
    delete_folder_and_recreate(&store, &blobs).await;
    search_with_and_without_diacritics(&store, &blobs).await;
    concurrent_deliveries_get_distinct_uids(&store, &blobs).await;
    notifications_follow_commits(&store, &blobs).await;
    grants_delegate_mailboxes(&store, &blobs).await;
    queue_claims_leases_and_records(&store, &blobs).await;
}

// ---------------------------------------------------------------------------------------
// helpers

/// A test message: the raw bytes go to the blob store; the index gets its searchable text
/// from the arguments (so the suite does not depend on the MIME parser's completeness).
pub struct TestMessage {
    pub blob: BlobHash,
    pub index: Arc<MessageIndex>,
    pub raw_len: u64,
}

pub async fn put_message(
    blobs: &Arc<dyn BlobStore>,
    from: &str,
    subject: &str,
    body: &str,
) -> TestMessage {
    let raw = format!(
        "From: {from}\r\nTo: someone@example.gov.vn\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    );
    let blob = blobs.put(raw.as_bytes()).await.expect("blob put");
    let mut index = parse_message(raw.as_bytes());
    index.subject = subject.to_string();
    index.from_display = from.to_string();
    let text = SearchFields {
        subject: subject.to_string(),
        from: from.to_string(),
        to: "someone@example.gov.vn".to_string(),
        cc: String::new(),
        bcc: String::new(),
        body: body.to_string(),
    };
    index.search_exact = map_fields(&text, normalize_lower);
    index.search_folded = map_fields(&text, fold_diacritics);
    TestMessage {
        blob,
        index: Arc::new(index),
        raw_len: raw.len() as u64,
    }
}

fn map_fields(f: &SearchFields, map: fn(&str) -> String) -> SearchFields {
    SearchFields {
        subject: map(&f.subject),
        from: map(&f.from),
        to: map(&f.to),
        cc: map(&f.cc),
        bcc: map(&f.bcc),
        body: map(&f.body),
    }
}

pub async fn new_account(store: &Arc<dyn Store>, local: &str) -> Account {
    store
        .create_account(NewAccount {
            address: format!("{local}@conformance.test"),
            display_name: format!("Người dùng {local}"),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            kind: AccountKind::Person,
            created_at: 1_700_000_000,
        })
        .await
        .expect("create account")
}

pub async fn folder(store: &Arc<dyn Store>, account: &Account, name: &str) -> Folder {
    store
        .folder_by_name(account.id, name)
        .await
        .expect("folder_by_name")
        .unwrap_or_else(|| panic!("folder {name} missing"))
}

fn to(account: &Account, folder: FolderTarget) -> DeliveryTarget {
    DeliveryTarget {
        account: account.id,
        folder,
        flags: Flags::default(),
    }
}

fn inbox_of(account: &Account) -> DeliveryTarget {
    to(account, FolderTarget::Special(SpecialUse::Inbox))
}

async fn deliver(
    store: &Arc<dyn Store>,
    msg: &TestMessage,
    targets: Vec<DeliveryTarget>,
) -> Vec<Delivered> {
    store
        .deliver(Delivery {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            internal_date: 1_750_000_000,
            targets,
        })
        .await
        .expect("deliver")
}

/// Delivers `n` distinct messages to the INBOX and returns their UIDs.
async fn fill_inbox(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
    account: &Account,
    n: usize,
) -> Vec<Uid> {
    let mut uids = Vec::new();
    for i in 0..n {
        let msg = put_message(
            blobs,
            "a@b.vn",
            &format!("{} thư {i}", account.address),
            "nội dung",
        )
        .await;
        uids.push(deliver(store, &msg, vec![inbox_of(account)]).await[0].uid);
    }
    uids
}

fn flags(names: &[&str]) -> Flags {
    Flags::from_names(names.iter().copied())
}

// ---------------------------------------------------------------------------------------
// checks

pub async fn accounts_and_folders(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "accounts").await;
    assert_eq!(account.address, "accounts@conformance.test");
    assert_eq!(account.state, AccountState::Active);
    let dup = store
        .create_account(NewAccount {
            address: "ACCOUNTS@conformance.test".into(),
            display_name: "x".into(),
            password_hash: "x".into(),
            kind: AccountKind::Unit,
            created_at: 0,
        })
        .await;
    assert!(
        matches!(dup, Err(StoreError::AlreadyExists(_))),
        "duplicate address accepted: {dup:?}"
    );
    let by_address = store
        .account_by_address("Accounts@Conformance.Test")
        .await
        .expect("by address");
    assert_eq!(by_address.map(|a| a.id), Some(account.id));
    let by_id = store
        .account_by_id(account.id)
        .await
        .expect("by id")
        .expect("account by id");
    assert_eq!(by_id.display_name, "Người dùng accounts");
    assert!(
        store
            .account_by_id(account.id + 1_000_000)
            .await
            .expect("by id")
            .is_none()
    );
    assert!(
        store
            .list_accounts()
            .await
            .expect("list")
            .iter()
            .any(|a| a.id == account.id)
    );

    store
        .set_password_hash(account.id, "new-hash")
        .await
        .expect("set password");
    store
        .set_account_state(account.id, AccountState::Suspended)
        .await
        .expect("set state");
    let changed = store
        .account_by_id(account.id)
        .await
        .expect("by id")
        .expect("account");
    assert_eq!(
        (changed.password_hash.as_str(), changed.state),
        ("new-hash", AccountState::Suspended)
    );
    assert!(matches!(
        store.set_password_hash(-5, "x").await,
        Err(StoreError::NotFound(_))
    ));

    // The six special-use folders, found by name (INBOX case-insensitively).
    let folders = store.list_folders(account.id).await.expect("list folders");
    for special in SpecialUse::DEFAULT_SET {
        let f = folders
            .iter()
            .find(|f| f.special_use == Some(special))
            .unwrap_or_else(|| panic!("no {special:?} folder"));
        assert_eq!(f.name, special.default_name());
        assert!(f.uidvalidity > 0 && f.uidnext == 1 && f.subscribed);
    }
    let inbox = folder(store, &account, "inbox").await;
    assert_eq!(inbox.name, "INBOX");
    assert_eq!(
        store.folder_by_id(inbox.id).await.expect("by id"),
        Some(inbox.clone())
    );

    // CREATE makes missing superiors; names are case-sensitive except INBOX.
    let created = store
        .create_folder(account.id, "Công văn/2026", None)
        .await
        .expect("create");
    assert_eq!(created.name, "Công văn/2026");
    assert!(
        store
            .folder_by_name(account.id, "Công văn")
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        store
            .folder_by_name(account.id, "công văn/2026")
            .await
            .expect("lookup")
            .is_none()
    );
    let again = store.create_folder(account.id, "Công văn/2026", None).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
    let inbox_again = store.create_folder(account.id, "Inbox", None).await;
    assert!(
        matches!(inbox_again, Err(StoreError::AlreadyExists(_))),
        "{inbox_again:?}"
    );
    for bad in ["", "a//b", "/a", "a/", "a\nb"] {
        let r = store.create_folder(account.id, bad, None).await;
        assert!(
            matches!(r, Err(StoreError::Invalid(_))),
            "name {bad:?} accepted: {r:?}"
        );
    }
    let special = store
        .create_folder(account.id, "Lưu trữ 2025", Some(SpecialUse::Archive))
        .await
        .expect("create");
    assert_eq!(special.special_use, Some(SpecialUse::Archive));

    store
        .set_subscribed(account.id, "Công văn/2026", false)
        .await
        .expect("unsubscribe");
    assert!(!folder(store, &account, "Công văn/2026").await.subscribed);
    let missing = store.set_subscribed(account.id, "Không có", true).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    let status = store.folder_status(inbox.id).await.expect("status");
    assert_eq!(
        (status.messages, status.uidnext, status.uidvalidity),
        (0, 1, inbox.uidvalidity)
    );
}

pub async fn delivery_is_stored_once(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let units: Vec<Account> = create_accounts(store, ["once-a", "once-b", "once-c"]).await;
    let before = blobs.total_size().await.expect("size");
    let msg = put_message(
        blobs,
        "Văn phòng <vp@tinh.gov.vn>",
        "Công văn số 1 — stored once",
        "Kính gửi các đơn vị",
    )
    .await;
    // The same bytes put again (a second SMTP transaction of the same circular) add nothing.
    let msg_again = put_message(
        blobs,
        "Văn phòng <vp@tinh.gov.vn>",
        "Công văn số 1 — stored once",
        "Kính gửi các đơn vị",
    )
    .await;
    assert_eq!(msg.blob, msg_again.blob);
    let after = blobs.total_size().await.expect("size");
    assert_eq!(after - before, msg.raw_len, "a blob must be stored once");
    assert!(
        blobs
            .get(&msg.blob)
            .await
            .expect("get")
            .starts_with(b"From:")
    );

    let mut targets: Vec<DeliveryTarget> = units.iter().map(inbox_of).collect();
    targets.push(DeliveryTarget {
        account: units[0].id,
        folder: FolderTarget::Special(SpecialUse::Junk),
        flags: flags(&["\\Seen", "$Junk"]),
    });
    let delivered = deliver(store, &msg, targets).await;
    assert_eq!(delivered.len(), 4);
    for (d, account) in delivered.iter().zip(&units) {
        assert_eq!(d.account, account.id);
        assert_eq!(d.folder, folder(store, account, "INBOX").await.id);
        assert_eq!(d.uid, 1);
    }
    let junk = folder(store, &units[0], "Junk").await;
    assert_eq!(delivered[3].folder, junk.id);
    let listed = store.list_messages(junk.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].flags, flags(&["\\Seen", "$Junk"]));
    assert_eq!(
        (listed[0].size, listed[0].internal_date),
        (msg.raw_len, 1_750_000_000)
    );

    let records = store
        .fetch_records(delivered[1].folder, &[1, 2, 99])
        .await
        .expect("fetch");
    assert_eq!(records.len(), 1, "only existing UIDs are returned");
    assert_eq!(records[0].blob, msg.blob);
    assert_eq!(records[0].index.subject, "Công văn số 1 — stored once");
    assert_eq!(records[0].index.size, msg.raw_len);
    assert_eq!(records[0].index.structure, msg.index.structure);
    assert_eq!(records[0].summary.uid, 1);
}

async fn create_accounts<const N: usize>(
    store: &Arc<dyn Store>,
    locals: [&str; N],
) -> Vec<Account> {
    let mut out = Vec::new();
    for local in locals {
        out.push(new_account(store, local).await);
    }
    out
}

pub async fn failed_delivery_changes_nothing(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let a = new_account(store, "atomic-a").await;
    let b = new_account(store, "atomic-b").await;
    let msg = put_message(blobs, "x@y.vn", "atomic", "body").await;
    // B's folder named through A's account: refused, and A's INBOX must not get it either.
    let b_inbox = folder(store, &b, "INBOX").await;
    let r = store
        .deliver(Delivery {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            internal_date: 0,
            targets: vec![inbox_of(&a), to(&a, FolderTarget::Id(b_inbox.id))],
        })
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let a_inbox = folder(store, &a, "INBOX").await;
    assert_eq!(a_inbox.uidnext, 1, "a failed delivery must leave no trace");
    assert!(
        store
            .list_messages(a_inbox.id)
            .await
            .expect("list")
            .is_empty()
    );
    let empty = store
        .deliver(Delivery {
            blob: msg.blob.clone(),
            index: msg.index.clone(),
            internal_date: 0,
            targets: vec![],
        })
        .await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))), "{empty:?}");
}

pub async fn uids_increase_and_are_never_reused(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
) {
    let account = new_account(store, "uids").await;
    let uids = fill_inbox(store, blobs, &account, 3).await;
    assert_eq!(uids, vec![1, 2, 3]);
    let inbox = folder(store, &account, "INBOX").await;
    let listed = store.list_messages(inbox.id).await.expect("list");
    assert_eq!(
        listed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        listed.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "MODSEQ must increase: {listed:?}"
    );
    assert!(inbox.highest_modseq >= listed[2].modseq);

    let before = inbox.highest_modseq;
    store
        .store_flags(inbox.id, &[3], FlagOp::Add, &flags(&["\\Deleted"]), None)
        .await
        .expect("flag");
    assert_eq!(
        store.expunge(inbox.id, None).await.expect("expunge"),
        vec![3]
    );
    let after_expunge = folder(store, &account, "INBOX").await;
    assert!(
        after_expunge.highest_modseq > before + 1,
        "flag change and expunge each take a MODSEQ"
    );
    let next = fill_inbox(store, blobs, &account, 1).await;
    assert_eq!(next, vec![4], "an expunged UID is never reused");
    let status = store.folder_status(inbox.id).await.expect("status");
    assert_eq!((status.messages, status.uidnext), (3, 5));
    assert!(status.highest_modseq > after_expunge.highest_modseq);
}

pub async fn flags_and_unchangedsince(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "flags").await;
    fill_inbox(store, blobs, &account, 3).await;
    let inbox = folder(store, &account, "INBOX").await;
    let status = store.folder_status(inbox.id).await.expect("status");
    assert_eq!((status.unseen, status.deleted), (3, 0));

    let seen = store
        .store_flags(
            inbox.id,
            &[1, 2, 77],
            FlagOp::Add,
            &flags(&["\\Seen", "Đã_xử_lý"]),
            None,
        )
        .await
        .expect("add");
    assert_eq!(
        seen.updated.iter().map(|s| s.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(seen.modified.is_empty());
    let m1 = seen.updated[0].modseq;
    assert!(m1 > inbox.highest_modseq);
    assert_eq!(seen.updated[0].flags, flags(&["\\Seen", "Đã_xử_lý"]));
    assert_eq!(
        store.folder_status(inbox.id).await.expect("status").unseen,
        1
    );

    // Adding flags already there changes nothing and takes no MODSEQ.
    let same = store
        .store_flags(inbox.id, &[1], FlagOp::Add, &flags(&["\\Seen"]), None)
        .await
        .expect("noop");
    assert_eq!(same.updated[0].modseq, m1);
    assert_eq!(folder(store, &account, "INBOX").await.highest_modseq, m1);

    // RFC 7162 §3.1.3: message 2 changes after m1; a STORE UNCHANGEDSINCE m1 then spares it.
    let flagged = store
        .store_flags(inbox.id, &[2], FlagOp::Add, &flags(&["\\Flagged"]), None)
        .await
        .expect("flag");
    let m2 = flagged.updated[0].modseq;
    assert!(m2 > m1);
    let cond = store
        .store_flags(
            inbox.id,
            &[1, 2, 3],
            FlagOp::Replace,
            &flags(&["\\Answered"]),
            Some(m1),
        )
        .await
        .expect("conditional");
    assert_eq!(cond.modified, vec![2]);
    assert_eq!(
        cond.updated.iter().map(|s| s.uid).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(
        cond.updated
            .iter()
            .all(|s| s.modseq > m2 && s.flags == flags(&["\\Answered"]))
    );

    let removed = store
        .store_flags(
            inbox.id,
            &[1, 2, 3],
            FlagOp::Remove,
            &flags(&["\\Answered", "Đã_xử_lý"]),
            None,
        )
        .await
        .expect("remove");
    let listed = store.list_messages(inbox.id).await.expect("list");
    assert_eq!(listed[0].flags, Flags::default());
    assert_eq!(listed[1].flags, flags(&["\\Seen", "\\Flagged"]));
    assert_eq!(removed.updated.len(), 3);
    let mut spaced = Flags::default();
    spaced.keywords.insert("two words".into());
    let bad = store
        .store_flags(inbox.id, &[1], FlagOp::Add, &spaced, None)
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    let missing = store
        .store_flags(i64::MAX, &[1], FlagOp::Add, &flags(&["\\Seen"]), None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn copy_and_move(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "copy").await;
    fill_inbox(store, blobs, &account, 3).await;
    let inbox = folder(store, &account, "INBOX").await;
    let archive = folder(store, &account, "Archive").await;
    store
        .store_flags(
            inbox.id,
            &[2],
            FlagOp::Add,
            &flags(&["\\Flagged", "$Label1"]),
            None,
        )
        .await
        .expect("flag");

    let copied = store
        .copy_messages(inbox.id, &[2, 3, 50], archive.id)
        .await
        .expect("copy");
    assert_eq!(copied.uidvalidity, archive.uidvalidity);
    assert_eq!(copied.pairs, vec![(2, 1), (3, 2)]);
    let in_archive = store.list_messages(archive.id).await.expect("list");
    assert_eq!(in_archive.len(), 2);
    assert_eq!(
        in_archive[0].flags,
        flags(&["\\Flagged", "$Label1"]),
        "COPY keeps flags"
    );
    assert_eq!(
        copied.highest_modseq,
        folder(store, &account, "Archive").await.highest_modseq
    );
    assert_eq!(
        store.list_messages(inbox.id).await.expect("list").len(),
        3,
        "COPY leaves the source"
    );
    let source_blob = store.fetch_records(inbox.id, &[2]).await.expect("fetch")[0]
        .blob
        .clone();
    assert_eq!(
        store.fetch_records(archive.id, &[1]).await.expect("fetch")[0].blob,
        source_blob
    );

    let before_move = folder(store, &account, "INBOX").await.highest_modseq;
    let moved = store
        .move_messages(inbox.id, &[1, 3], archive.id)
        .await
        .expect("move");
    assert_eq!(moved.pairs, vec![(1, 3), (3, 4)]);
    let left: Vec<Uid> = store
        .list_messages(inbox.id)
        .await
        .expect("list")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![2]);
    let changes = store
        .changes_since(inbox.id, before_move)
        .await
        .expect("changes");
    assert_eq!(
        changes.expunged,
        vec![1, 3],
        "MOVE expunges from the source"
    );
    assert_eq!(
        store.list_messages(archive.id).await.expect("list").len(),
        4
    );

    let nothing = store
        .copy_messages(inbox.id, &[999], archive.id)
        .await
        .expect("empty copy");
    assert!(nothing.pairs.is_empty());
    let bad = store.copy_messages(inbox.id, &[2], i64::MAX).await;
    assert!(matches!(bad, Err(StoreError::NotFound(_))), "{bad:?}");
}

pub async fn expunge_and_changes_since(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "expunge").await;
    fill_inbox(store, blobs, &account, 4).await;
    let inbox = folder(store, &account, "INBOX").await;
    let m0 = inbox.highest_modseq;
    let all = store.changes_since(inbox.id, 0).await.expect("changes");
    assert_eq!(all.changed.len(), 4);
    assert_eq!((all.highest_modseq, all.uidnext), (m0, 5));
    assert!(
        store
            .changes_since(inbox.id, m0)
            .await
            .expect("changes")
            .changed
            .is_empty()
    );

    store
        .store_flags(
            inbox.id,
            &[1, 2, 3],
            FlagOp::Add,
            &flags(&["\\Deleted"]),
            None,
        )
        .await
        .expect("flag");
    // UID EXPUNGE (RFC 4315 §2.1) removes only the given UIDs among the \Deleted ones.
    assert_eq!(
        store
            .expunge(inbox.id, Some(&[2, 4]))
            .await
            .expect("uid expunge"),
        vec![2]
    );
    let changes = store.changes_since(inbox.id, m0).await.expect("changes");
    assert_eq!(
        changes.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(changes.expunged, vec![2]);
    let m1 = changes.highest_modseq;
    assert!(m1 > m0);

    assert_eq!(
        store.expunge(inbox.id, None).await.expect("expunge"),
        vec![1, 3]
    );
    let later = store.changes_since(inbox.id, m1).await.expect("changes");
    assert_eq!(later.expunged, vec![1, 3]);
    assert!(later.changed.is_empty());
    assert!(
        store
            .expunge(inbox.id, None)
            .await
            .expect("nothing to expunge")
            .is_empty()
    );
    let status = store.folder_status(inbox.id).await.expect("status");
    assert_eq!((status.messages, status.deleted), (1, 0));
    assert!(matches!(
        store.changes_since(i64::MAX, 0).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn rename_with_children_and_inbox(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "rename").await;
    let project = store
        .create_folder(account.id, "Dự án", None)
        .await
        .expect("create");
    let child = store
        .create_folder(account.id, "Dự án/2026", None)
        .await
        .expect("create");
    store
        .create_folder(account.id, "Dự án khác", None)
        .await
        .expect("create");
    let msg = put_message(blobs, "a@b.vn", "trong dự án", "x").await;
    deliver(store, &msg, vec![to(&account, FolderTarget::Id(child.id))]).await;

    store
        .rename_folder(account.id, "Dự án", "Lưu/Dự án cũ")
        .await
        .expect("rename");
    assert!(
        store
            .folder_by_name(account.id, "Dự án")
            .await
            .expect("lookup")
            .is_none()
    );
    let renamed = folder(store, &account, "Lưu/Dự án cũ").await;
    assert_eq!(
        (renamed.id, renamed.uidvalidity),
        (project.id, project.uidvalidity)
    );
    let renamed_child = folder(store, &account, "Lưu/Dự án cũ/2026").await;
    assert_eq!(renamed_child.id, child.id);
    assert_eq!(
        store.list_messages(child.id).await.expect("list").len(),
        1,
        "messages follow the folder"
    );
    assert!(
        store
            .folder_by_name(account.id, "Lưu")
            .await
            .expect("lookup")
            .is_some(),
        "superior created"
    );
    assert!(
        store
            .folder_by_name(account.id, "Dự án khác")
            .await
            .expect("lookup")
            .is_some(),
        "a sibling with the same prefix stays"
    );

    let clash = store.rename_folder(account.id, "Dự án khác", "Lưu").await;
    assert!(
        matches!(clash, Err(StoreError::AlreadyExists(_))),
        "{clash:?}"
    );
    let missing = store.rename_folder(account.id, "Không có", "Mới").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let into_itself = store.rename_folder(account.id, "Lưu", "Lưu/con").await;
    assert!(
        matches!(into_itself, Err(StoreError::Invalid(_))),
        "{into_itself:?}"
    );

    // RFC 9051 §6.3.6: renaming INBOX moves its messages into a new folder; INBOX stays,
    // empty, and its children are not renamed.
    store
        .create_folder(account.id, "INBOX/Con", None)
        .await
        .expect("create");
    fill_inbox(store, blobs, &account, 2).await;
    let inbox = folder(store, &account, "INBOX").await;
    store
        .store_flags(inbox.id, &[2], FlagOp::Add, &flags(&["\\Seen"]), None)
        .await
        .expect("flag");
    store
        .rename_folder(account.id, "inbox", "Thư cũ")
        .await
        .expect("rename INBOX");
    let inbox_after = folder(store, &account, "INBOX").await;
    assert_eq!(
        (inbox_after.id, inbox_after.uidvalidity),
        (inbox.id, inbox.uidvalidity)
    );
    assert!(
        store
            .list_messages(inbox.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .changes_since(inbox.id, inbox.highest_modseq)
            .await
            .expect("changes")
            .expunged,
        vec![1, 2]
    );
    let old = folder(store, &account, "Thư cũ").await;
    let moved = store.list_messages(old.id).await.expect("list");
    assert_eq!(moved.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(moved[1].flags, flags(&["\\Seen"]));
    assert!(
        store
            .folder_by_name(account.id, "INBOX/Con")
            .await
            .expect("lookup")
            .is_some()
    );
    // New mail still arrives in INBOX, with UIDs after the ones it had.
    let next = fill_inbox(store, blobs, &account, 1).await;
    assert_eq!(next, vec![3]);
}

pub async fn delete_folder_and_recreate(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "delete").await;
    let doomed = store
        .create_folder(account.id, "Tạm", None)
        .await
        .expect("create");
    let msg = put_message(blobs, "a@b.vn", "sẽ xóa", "x").await;
    deliver(store, &msg, vec![to(&account, FolderTarget::Id(doomed.id))]).await;
    store
        .delete_folder(account.id, "Tạm")
        .await
        .expect("delete");
    assert!(
        store
            .folder_by_id(doomed.id)
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .list_messages(doomed.id)
            .await
            .expect("list")
            .is_empty()
    );
    let again = store
        .create_folder(account.id, "Tạm", None)
        .await
        .expect("re-create");
    assert_ne!(
        again.uidvalidity, doomed.uidvalidity,
        "RFC 9051 §2.3.1.1: a new UIDVALIDITY"
    );
    assert_eq!(again.uidnext, 1);

    let inbox = store.delete_folder(account.id, "inbox").await;
    assert!(matches!(inbox, Err(StoreError::Invalid(_))), "{inbox:?}");
    let missing = store.delete_folder(account.id, "Không có").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    // The blob stays for other mailboxes that may hold it.
    assert!(blobs.get(&msg.blob).await.is_ok());
}

pub async fn search_with_and_without_diacritics(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
) {
    let account = new_account(store, "search").await;
    let inbox = folder(store, &account, "INBOX").await;
    let texts = [
        (
            "Nguyễn Văn An <an@tinh.gov.vn>",
            "Báo cáo của Nguyễn Văn An",
            "Đường Trần Phú, Hà Nội",
        ),
        (
            "Nguyen Van Binh <binh@tinh.gov.vn>",
            "Bao cao cua Nguyen Van Binh",
            "Duong Le Loi",
        ),
        (
            "Trần Thị Cúc <cuc@tinh.gov.vn>",
            "Lịch họp 100% đơn vị",
            "Không liên quan",
        ),
    ];
    for (from, subject, body) in texts {
        let msg = put_message(blobs, from, subject, body).await;
        deliver(store, &msg, vec![inbox_of(&account)]).await;
    }
    let search = |field, needle: &'static str| {
        let store = store.clone();
        async move {
            store
                .search_text(inbox.id, field, needle)
                .await
                .expect("search")
        }
    };
    assert_eq!(
        search(TextField::Subject, "nguyen").await,
        vec![1, 2],
        "no diacritics: both forms"
    );
    assert_eq!(
        search(TextField::Subject, "NGUYEN").await,
        vec![1, 2],
        "case-insensitive"
    );
    assert_eq!(
        search(TextField::Subject, "Nguyễn").await,
        vec![1],
        "diacritics: exact form only"
    );
    assert_eq!(search(TextField::Subject, "NGUYỄN").await, vec![1]);
    // Decomposed input (NFD, as some clients send) matches like its NFC form.
    assert_eq!(
        search(TextField::Subject, "Nguye\u{0302}\u{0303}n").await,
        vec![1]
    );
    assert_eq!(search(TextField::From, "binh@").await, vec![2]);
    assert_eq!(
        search(TextField::Body, "duong").await,
        vec![1, 2],
        "đ folds to d"
    );
    assert_eq!(search(TextField::Body, "đường").await, vec![1]);
    assert_eq!(
        search(TextField::Text, "tran").await,
        vec![1, 3],
        "TEXT looks in headers and body"
    );
    assert_eq!(search(TextField::To, "someone").await, vec![1, 2, 3]);
    assert!(search(TextField::Cc, "an").await.is_empty());
    // SQL wildcards in the needle are plain characters.
    assert_eq!(search(TextField::Subject, "100%").await, vec![3]);
    assert_eq!(search(TextField::Subject, "%").await, vec![3]);
    assert!(search(TextField::Subject, "_").await.is_empty());
    assert!(search(TextField::Subject, "' OR 1=1 --").await.is_empty());
}

pub async fn concurrent_deliveries_get_distinct_uids(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
) {
    const TASKS: usize = 200;
    let account = new_account(store, "concurrent").await;
    let other = new_account(store, "concurrent-other").await;
    let foreign = folder(store, &other, "INBOX").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TASKS {
        let store = store.clone();
        let blobs = blobs.clone();
        let account = account.clone();
        tasks.spawn(async move {
            let msg = put_message(&blobs, "a@b.vn", &format!("đồng thời {i}"), "x").await;
            // Every tenth task also sends a delivery that must fail, in the same batches.
            if i % 10 == 0 {
                let bad = store
                    .deliver(Delivery {
                        blob: msg.blob.clone(),
                        index: msg.index.clone(),
                        internal_date: 0,
                        targets: vec![to(&account, FolderTarget::Id(foreign.id))],
                    })
                    .await;
                assert!(matches!(bad, Err(StoreError::NotFound(_))), "{bad:?}");
            }
            deliver(&store, &msg, vec![inbox_of(&account)]).await[0].clone()
        });
    }
    let mut delivered = Vec::new();
    while let Some(done) = tasks.join_next().await {
        delivered.push(done.expect("delivery task"));
    }
    let mut uids: Vec<Uid> = delivered.iter().map(|d| d.uid).collect();
    uids.sort_unstable();
    assert_eq!(
        uids,
        (1..=TASKS as Uid).collect::<Vec<_>>(),
        "distinct UIDs with no gap"
    );
    let mut modseqs: Vec<u64> = delivered.iter().map(|d| d.modseq).collect();
    modseqs.sort_unstable();
    modseqs.dedup();
    assert_eq!(modseqs.len(), TASKS, "distinct MODSEQs");
    let inbox = folder(store, &account, "INBOX").await;
    assert_eq!(
        store.list_messages(inbox.id).await.expect("list").len(),
        TASKS
    );
    assert!(
        store
            .list_messages(foreign.id)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn notifications_follow_commits(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let account = new_account(store, "notify").await;
    let inbox = folder(store, &account, "INBOX").await;
    let mut rx = store.subscribe();
    let mut next_for_inbox = async || -> FolderChange {
        loop {
            let change = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a notification within 10 s")
                .expect("notification channel open");
            if change.folder == inbox.id {
                return change;
            }
        }
    };
    let msg = put_message(blobs, "a@b.vn", "thông báo", "x").await;
    let d = deliver(store, &msg, vec![inbox_of(&account)]).await;
    let change = next_for_inbox().await;
    assert_eq!(
        (change.account, change.folder, change.modseq),
        (account.id, inbox.id, d[0].modseq)
    );

    let stored = store
        .store_flags(inbox.id, &[1], FlagOp::Add, &flags(&["\\Deleted"]), None)
        .await
        .expect("flag");
    assert_eq!(next_for_inbox().await.modseq, stored.updated[0].modseq);
    store.expunge(inbox.id, None).await.expect("expunge");
    let after = folder(store, &account, "INBOX").await;
    assert_eq!(next_for_inbox().await.modseq, after.highest_modseq);
}

/// Delegation of a unit mailbox to its keepers (RFC 4314 rights): grants read both ways,
/// replaced, canonicalised, removed by empty rights; bad letters, self-grants and unknown
/// accounts are refused without changing anything.
pub async fn grants_delegate_mailboxes(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let unit = new_account(store, "grants-unit").await;
    let other_unit = new_account(store, "grants-unit2").await;
    let clerk = new_account(store, "grants-clerk").await;
    let deputy = new_account(store, "grants-deputy").await;
    let grant = |mailbox: &Account, grantee: &Account, rights: &str| Grant {
        mailbox: mailbox.id,
        grantee: grantee.id,
        rights: rights.to_string(),
    };

    assert!(
        store
            .grants_to(clerk.id)
            .await
            .expect("grants_to")
            .is_empty()
    );
    assert!(
        store
            .grants_on(unit.id)
            .await
            .expect("grants_on")
            .is_empty()
    );

    store
        .set_grant(unit.id, clerk.id, "lrsp")
        .await
        .expect("grant");
    store
        .set_grant(unit.id, deputy.id, "lr")
        .await
        .expect("grant");
    store
        .set_grant(other_unit.id, clerk.id, "pl")
        .await
        .expect("grant");
    assert_eq!(
        store.grants_to(clerk.id).await.expect("grants_to"),
        vec![
            grant(&unit, &clerk, "lrsp"),
            grant(&other_unit, &clerk, "lp")
        ],
        "rights come back canonical (\"pl\" is stored \"lp\"), ordered by mailbox"
    );
    assert_eq!(
        store.grants_on(unit.id).await.expect("grants_on"),
        vec![grant(&unit, &clerk, "lrsp"), grant(&unit, &deputy, "lr")]
    );

    // Setting again replaces; duplicates collapse.
    store
        .set_grant(unit.id, deputy.id, "aaplrl")
        .await
        .expect("replace");
    assert_eq!(
        store.grants_on(unit.id).await.expect("grants_on"),
        vec![grant(&unit, &clerk, "lrsp"), grant(&unit, &deputy, "lrpa")]
    );

    // Refusals change nothing.
    match store.set_grant(unit.id, deputy.id, "lrz").await {
        Err(StoreError::Invalid(text)) => assert!(text.contains('z'), "{text}"),
        other => panic!("unknown right letter: expected Invalid, got {other:?}"),
    }
    match store.set_grant(unit.id, unit.id, "lr").await {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("self-grant: expected Invalid, got {other:?}"),
    }
    match store.set_grant(unit.id, i64::MAX, "lr").await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("unknown grantee: expected NotFound, got {other:?}"),
    }
    match store.set_grant(i64::MAX, clerk.id, "lr").await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("unknown mailbox: expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.grants_on(unit.id).await.expect("grants_on"),
        vec![grant(&unit, &clerk, "lrsp"), grant(&unit, &deputy, "lrpa")]
    );

    // Empty rights remove the grant; removing again is not an error.
    store
        .set_grant(unit.id, clerk.id, "")
        .await
        .expect("revoke");
    store
        .set_grant(unit.id, clerk.id, "")
        .await
        .expect("revoke twice");
    assert_eq!(
        store.grants_to(clerk.id).await.expect("grants_to"),
        vec![grant(&other_unit, &clerk, "lp")]
    );
    assert_eq!(
        store.grants_on(unit.id).await.expect("grants_on"),
        vec![grant(&unit, &deputy, "lrpa")]
    );
}

/// The outbound queue: enqueue is visible at once, claiming leases recipients so a second
/// claim (another worker or node) gets nothing until the lease runs out, attempts are
/// recorded per recipient, and a finished recipient cannot be changed by a late answer.
pub async fn queue_claims_leases_and_records(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    use crate::{AttemptOutcome, NewQueuedMessage, QueueAttempt, QueueStatus};
    let msg = put_message(blobs, "q@conformance.test", "hàng đợi", "gửi đi").await;
    let t0 = 1_800_000_000;
    let empty = store
        .enqueue(NewQueuedMessage {
            blob: msg.blob.clone(),
            mail_from: "q@conformance.test".into(),
            recipients: vec![],
            created_at: t0,
            submitted_by: None,
        })
        .await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))), "{empty:?}");
    let id = store
        .enqueue(NewQueuedMessage {
            blob: msg.blob.clone(),
            mail_from: "q@conformance.test".into(),
            recipients: vec![
                "a@Remote.example".into(),
                "b@remote.example".into(),
                "a@Remote.example".into(),
                "c@other.example".into(),
            ],
            created_at: t0,
            submitted_by: Some("q@conformance.test".into()),
        })
        .await
        .expect("enqueue");
    let entry = store
        .queue_entry(id)
        .await
        .expect("queue_entry")
        .expect("entry");
    assert_eq!(entry.blob, msg.blob);
    assert_eq!(entry.submitted_by.as_deref(), Some("q@conformance.test"));
    let addresses: Vec<&str> = entry
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(
        addresses,
        ["a@Remote.example", "b@remote.example", "c@other.example"]
    );
    assert_eq!(entry.recipients[0].domain, "remote.example");
    assert!(
        entry
            .recipients
            .iter()
            .all(|r| r.status == QueueStatus::Pending
                && r.attempts == 0
                && r.next_attempt_at == t0)
    );
    assert!(
        store
            .list_queue()
            .await
            .expect("list")
            .iter()
            .any(|e| e.id == id)
    );

    // Not due before created_at; then claimed once, leased, and not claimed again.
    assert!(
        store
            .claim_due(t0 - 1, 100, Duration::from_secs(60))
            .await
            .expect("claim")
            .iter()
            .all(|e| e.id != id)
    );
    let claimed = store
        .claim_due(t0, 2, Duration::from_secs(60))
        .await
        .expect("claim");
    let mine: Vec<_> = claimed.iter().filter(|e| e.id == id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].recipients.len(), 2, "limit counts recipients");
    let rest = store
        .claim_due(t0 + 1, 100, Duration::from_secs(60))
        .await
        .expect("claim");
    let rest: Vec<_> = rest
        .iter()
        .filter(|e| e.id == id)
        .flat_map(|e| e.recipients.iter())
        .collect();
    assert_eq!(rest.len(), 1, "only the unclaimed recipient");
    assert!(
        store
            .claim_due(t0 + 30, 100, Duration::from_secs(60))
            .await
            .expect("claim")
            .iter()
            .all(|e| e.id != id),
        "leased rows are skipped"
    );

    let [a, b, c] = [
        &entry.recipients[0],
        &entry.recipients[1],
        &entry.recipients[2],
    ];
    store
        .record_attempt(QueueAttempt {
            recipient: a.id,
            at: t0 + 5,
            outcome: AttemptOutcome::Delivered,
            remote_host: Some("mx.remote.example".into()),
            remote_response: Some("250 2.0.0 ok".into()),
        })
        .await
        .expect("record");
    store
        .record_attempt(QueueAttempt {
            recipient: b.id,
            at: t0 + 5,
            outcome: AttemptOutcome::Retry {
                error: "451 4.3.0 later".into(),
                next_attempt_at: t0 + 300,
                delay_warned: true,
            },
            remote_host: None,
            remote_response: None,
        })
        .await
        .expect("record");
    store
        .record_attempt(QueueAttempt {
            recipient: c.id,
            at: t0 + 5,
            outcome: AttemptOutcome::Failed {
                error: "550 5.1.1 no such user".into(),
            },
            remote_host: None,
            remote_response: None,
        })
        .await
        .expect("record");
    let late = store
        .record_attempt(QueueAttempt {
            recipient: a.id,
            at: t0 + 6,
            outcome: AttemptOutcome::Failed {
                error: "late".into(),
            },
            remote_host: None,
            remote_response: None,
        })
        .await;
    assert!(matches!(late, Err(StoreError::NotFound(_))), "{late:?}");

    let entry = store
        .queue_entry(id)
        .await
        .expect("queue_entry")
        .expect("entry");
    let r = &entry.recipients;
    assert_eq!((r[0].status, r[0].attempts), (QueueStatus::Delivered, 1));
    assert_eq!(r[0].remote_host.as_deref(), Some("mx.remote.example"));
    assert_eq!(r[0].remote_response.as_deref(), Some("250 2.0.0 ok"));
    assert_eq!(
        (r[1].status, r[1].next_attempt_at, r[1].delay_warned),
        (QueueStatus::Pending, t0 + 300, true)
    );
    assert_eq!(r[1].last_error.as_deref(), Some("451 4.3.0 later"));
    assert_eq!(r[1].last_attempt_at, Some(t0 + 5));
    assert_eq!(r[2].status, QueueStatus::Failed);

    // The retried recipient is due at its time, lease released; retry_now makes it due at once.
    assert!(
        store
            .claim_due(t0 + 299, 100, Duration::from_secs(60))
            .await
            .expect("claim")
            .iter()
            .all(|e| e.id != id)
    );
    store.retry_now(id).await.expect("retry_now");
    let again = store
        .claim_due(t0 + 10, 100, Duration::from_secs(60))
        .await
        .expect("claim");
    let again: Vec<_> = again
        .iter()
        .filter(|e| e.id == id)
        .flat_map(|e| e.recipients.iter())
        .map(|r| r.id)
        .collect();
    assert_eq!(again, [b.id]);

    assert!(matches!(
        store.retry_now(id + 1_000_000).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_queued(id).await.expect("delete");
    assert!(store.queue_entry(id).await.expect("queue_entry").is_none());
    assert!(matches!(
        store.delete_queued(id).await,
        Err(StoreError::NotFound(_))
    ));
}
