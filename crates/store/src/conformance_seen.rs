//! Conformance check for a reader's own \Seen (`private_seen`, `set_private_seen`), run
//! against every backend like `conformance`.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::conformance::{folder, new_account, put_message};
use crate::{BlobStore, Delivery, DeliveryTarget, FolderTarget, Store};
use congvu_core::{Flags, SpecialUse};
use std::sync::Arc;

/// Runs every check of this module on the same stores.
pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    private_seen_is_per_reader(&store, &blobs).await;
}

pub async fn private_seen_is_per_reader(store: &Arc<dyn Store>, blobs: &Arc<dyn BlobStore>) {
    let unit = new_account(store, "seen-unit").await;
    let keeper = new_account(store, "seen-keeper").await;
    let other = new_account(store, "seen-other").await;
    let inbox = folder(store, &unit, "INBOX").await;
    let mut uids = Vec::new();
    for n in 0..3 {
        let msg = put_message(blobs, "a@b.vn", &format!("m{n}"), "x").await;
        let d = store
            .deliver(Delivery {
                blob: msg.blob,
                index: msg.index,
                internal_date: 1_700_000_000,
                targets: vec![DeliveryTarget {
                    account: unit.id,
                    folder: FolderTarget::Special(SpecialUse::Inbox),
                    flags: Flags::default(),
                }],
            })
            .await
            .expect("deliver");
        uids.push(d[0].uid);
    }
    let before = store.list_messages(inbox.id).await.expect("list");
    let status_before = store.folder_status(inbox.id).await.expect("status");

    store
        .set_private_seen(keeper.id, inbox.id, &uids[..2], true)
        .await
        .expect("mark");
    // Idempotent, and an empty call is fine.
    store
        .set_private_seen(keeper.id, inbox.id, &uids[..1], true)
        .await
        .expect("mark again");
    store
        .set_private_seen(keeper.id, inbox.id, &[], true)
        .await
        .expect("empty");
    assert_eq!(
        store.private_seen(keeper.id, inbox.id).await.expect("read"),
        uids[..2].to_vec()
    );
    assert!(
        store
            .private_seen(other.id, inbox.id)
            .await
            .expect("read")
            .is_empty(),
        "another reader sees nothing of the keeper's state"
    );
    store
        .set_private_seen(keeper.id, inbox.id, &uids[..1], false)
        .await
        .expect("unmark");
    assert_eq!(
        store.private_seen(keeper.id, inbox.id).await.expect("read"),
        vec![uids[1]]
    );
    // The messages themselves did not change: same flags, same MODSEQ, same unseen count.
    assert_eq!(store.list_messages(inbox.id).await.expect("list"), before);
    let status_after = store.folder_status(inbox.id).await.expect("status");
    assert_eq!(status_after.unseen, status_before.unseen);
    assert_eq!(status_after.highest_modseq, status_before.highest_modseq);
}
