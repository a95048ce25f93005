//! Conformance check for the quarantine, the purge look-up and forwarding targets, run
//! against every backend.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::conformance::{new_account, put_message};
use crate::{
    BlobStore, Delivery, DeliveryTarget, FolderTarget, MessageKey, NewQuarantined, Store,
    StoreError,
};
use congvu_core::{Flags, SpecialUse};
use std::sync::Arc;

pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    quarantine_holds_lists_and_removes_once(&store, &blobs).await;
    messages_are_located_by_message_id_and_blob(&store, &blobs).await;
    forwards_are_kept_per_mailbox(&store).await;
}

fn held(blob: crate::BlobHash, at: i64) -> NewQuarantined {
    NewQuarantined {
        blob,
        mail_from: "nguoigui@example.org".into(),
        recipients: vec![
            "binhtt@conformance.test".into(),
            "annv@conformance.test".into(),
        ],
        reason: "R-POL-7: «TỐI MẬT» in the subject".into(),
        source: "mx".into(),
        remote_ip: "192.0.2.7".into(),
        helo: "mx.example.org".into(),
        message_id: Some("mat-1@example.org".into()),
        subject: "[TỐI MẬT] Kế hoạch".into(),
        at,
    }
}

pub async fn quarantine_holds_lists_and_removes_once(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
) {
    let before = store.list_quarantine().await.expect("list").len();
    let m = put_message(blobs, "nguoigui@example.org", "[TỐI MẬT] Kế hoạch", "mật").await;
    let first = store
        .quarantine(held(m.blob.clone(), 1_800_000_000), &m.index)
        .await
        .expect("quarantine");
    let second = store
        .quarantine(held(m.blob.clone(), 1_800_000_001), &m.index)
        .await
        .expect("quarantine");
    assert_ne!(first.id, second.id);
    let list = store.list_quarantine().await.expect("list");
    assert_eq!(list.len(), before + 2);
    // Oldest first, with everything that was given (recipients keep their order).
    let mine: Vec<_> = list.iter().filter(|q| q.message.blob == m.blob).collect();
    assert_eq!(mine[0], &first);
    assert_eq!(mine[1], &second);
    assert_eq!(
        store.quarantined(first.id).await.expect("get"),
        Some(first.clone())
    );

    // Removing returns the row once; a second removal is NotFound.
    assert_eq!(
        store.remove_quarantined(first.id).await.expect("remove"),
        first
    );
    assert!(matches!(
        store.remove_quarantined(first.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.quarantined(first.id).await.expect("get"), None);
    // While one row holds the blob, garbage collection keeps it; after, it goes.
    store
        .collect_garbage(blobs.as_ref(), 1_800_000_002)
        .await
        .expect("gc");
    assert!(blobs.contains(&m.blob));
    store.remove_quarantined(second.id).await.expect("remove");
    assert_eq!(store.list_quarantine().await.expect("list").len(), before);
    store
        .collect_garbage(blobs.as_ref(), 1_800_000_003)
        .await
        .expect("gc");
    assert!(!blobs.contains(&m.blob));

    // No recipient: refused.
    let mut empty = held(m.blob.clone(), 1);
    empty.recipients.clear();
    assert!(matches!(
        store.quarantine(empty, &m.index).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn messages_are_located_by_message_id_and_blob(
    store: &Arc<dyn Store>,
    blobs: &Arc<dyn BlobStore>,
) {
    let a = new_account(store, "purge-a").await;
    let b = new_account(store, "purge-b").await;
    let raw = b"From: x@example.org\r\nMessage-ID: <ro-ri-1@example.org>\r\nSubject: tai lieu\r\n\r\nnoi dung\r\n";
    let blob = blobs.put(raw).await.expect("blob");
    let index = Arc::new(congvu_wire::mime::parse_message(raw));
    assert_eq!(index.message_id.as_deref(), Some("ro-ri-1@example.org"));
    let inbox = |account| DeliveryTarget {
        account,
        folder: FolderTarget::Special(SpecialUse::Inbox),
        flags: Flags::default(),
    };
    let delivered = store
        .deliver(Delivery {
            blob: blob.clone(),
            index: index.clone(),
            internal_date: 1_800_000_000,
            targets: vec![inbox(a.id), inbox(b.id)],
        })
        .await
        .expect("deliver");
    // Another message in the same folder is never located.
    let other = put_message(blobs, "y@example.org", "khac", "khac").await;
    store
        .deliver(Delivery {
            blob: other.blob.clone(),
            index: other.index.clone(),
            internal_date: 1_800_000_000,
            targets: vec![inbox(a.id)],
        })
        .await
        .expect("deliver");

    let by_id = store
        .locate_messages(&MessageKey::MessageId("ro-ri-1@example.org".into()))
        .await
        .expect("locate");
    let mut got: Vec<_> = by_id.iter().map(|l| (l.account, l.folder, l.uid)).collect();
    got.sort();
    let mut want: Vec<_> = delivered
        .iter()
        .map(|d| (d.account, d.folder, d.uid))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(by_id.iter().all(|l| l.blob == blob));
    let by_blob = store
        .locate_messages(&MessageKey::Blob(blob.clone()))
        .await
        .expect("locate");
    assert_eq!(by_blob, by_id);
    assert!(
        store
            .locate_messages(&MessageKey::MessageId("khong-co@example.org".into()))
            .await
            .expect("locate")
            .is_empty()
    );
}

pub async fn forwards_are_kept_per_mailbox(store: &Arc<dyn Store>) {
    let a = new_account(store, "fwd-a").await;
    let b = new_account(store, "fwd-b").await;
    assert!(store.forwards(a.id).await.expect("list").is_empty());
    store
        .add_forward(a.id, "Chanh@Tinh.gov.vn", 10)
        .await
        .expect("add");
    store
        .add_forward(a.id, "binh@tinh.gov.vn", 11)
        .await
        .expect("add");
    assert_eq!(
        store.forwards(a.id).await.expect("list"),
        vec![
            "binh@tinh.gov.vn".to_string(),
            "chanh@tinh.gov.vn".to_string()
        ]
    );
    assert!(store.forwards(b.id).await.expect("list").is_empty());
    assert!(matches!(
        store.add_forward(a.id, "chanh@tinh.gov.vn", 12).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.add_forward(a.id, "khong-phai-dia-chi", 12).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.add_forward(999_999, "x@tinh.gov.vn", 12).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .remove_forward(a.id, "CHANH@tinh.gov.vn")
        .await
        .expect("remove");
    assert!(matches!(
        store.remove_forward(a.id, "chanh@tinh.gov.vn").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.forwards(a.id).await.expect("list"),
        vec!["binh@tinh.gov.vn".to_string()]
    );
}
