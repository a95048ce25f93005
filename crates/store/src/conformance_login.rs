//! Conformance checks for app passwords, the TOTP secret and the expiry-warning record
//! (migration 0007, used by [`crate::login`]), run against every backend like `conformance`.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::conformance::new_account;
use crate::{BlobStore, NewAppPassword, Store, StoreError};
use std::sync::Arc;

/// Runs every check of this module on the same stores.
pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    app_passwords_by_label(&store, &blobs).await;
    totp_steps_are_used_once(&store, &blobs).await;
    expiry_warnings_are_recorded_once(&store, &blobs).await;
}

fn new_app_password(account: i64, label: &str, at: i64) -> NewAppPassword {
    NewAppPassword {
        account,
        label: label.to_string(),
        password_hash: format!("$argon2id$hash-of-{label}"),
        created_at: at,
    }
}

pub async fn app_passwords_by_label(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let a = new_account(store, "app-a").await;
    let b = new_account(store, "app-b").await;
    let phone = store
        .add_app_password(new_app_password(a.id, "điện thoại", 10))
        .await
        .expect("add phone");
    assert_eq!(phone.label, "điện thoại");
    assert_eq!(phone.last_used_at, None);
    store
        .add_app_password(new_app_password(a.id, "Thunderbird", 11))
        .await
        .expect("add thunderbird");
    // The same label in another mailbox is fine; twice in one mailbox is not.
    store
        .add_app_password(new_app_password(b.id, "Thunderbird", 12))
        .await
        .expect("same label, other mailbox");
    assert!(matches!(
        store
            .add_app_password(new_app_password(a.id, "Thunderbird", 13))
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store
            .add_app_password(new_app_password(a.id, "  ", 13))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .add_app_password(new_app_password(a.id + 10_000, "x", 13))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let list = store.app_passwords(a.id).await.expect("list");
    let labels: Vec<&str> = list.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["Thunderbird", "điện thoại"]);
    assert_eq!(list[1].password_hash, "$argon2id$hash-of-điện thoại");

    store.touch_app_password(phone.id, 99).await.expect("touch");
    let list = store.app_passwords(a.id).await.expect("list");
    assert_eq!(list[1].last_used_at, Some(99));
    assert_eq!(list[0].last_used_at, None);

    store
        .revoke_app_password(a.id, "Thunderbird")
        .await
        .expect("revoke");
    assert!(matches!(
        store.revoke_app_password(a.id, "Thunderbird").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.app_passwords(a.id).await.expect("list").len(), 1);
    // b's password with the same label is untouched.
    assert_eq!(store.app_passwords(b.id).await.expect("list b").len(), 1);
}

pub async fn totp_steps_are_used_once(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let a = new_account(store, "totp-a").await;
    assert_eq!(store.totp(a.id).await.expect("none"), None);
    // Without a secret no step is accepted.
    assert!(!store.use_totp_step(a.id, 5).await.expect("no secret"));

    store
        .set_totp(a.id, Some(&[1u8; 20]), 100)
        .await
        .expect("enable");
    let secret = store.totp(a.id).await.expect("read").expect("enabled");
    assert_eq!(secret.secret, vec![1u8; 20]);
    assert_eq!(secret.enabled_at, 100);
    assert_eq!(secret.last_step, None);

    assert!(store.use_totp_step(a.id, 50).await.expect("first"));
    assert!(!store.use_totp_step(a.id, 50).await.expect("replay"));
    assert!(!store.use_totp_step(a.id, 49).await.expect("older"));
    assert!(store.use_totp_step(a.id, 51).await.expect("newer"));
    assert_eq!(
        store.totp(a.id).await.expect("read").expect("on").last_step,
        Some(51)
    );

    // A new secret starts over; turning it off removes it.
    store
        .set_totp(a.id, Some(&[2u8; 20]), 200)
        .await
        .expect("re-enable");
    let secret = store.totp(a.id).await.expect("read").expect("enabled");
    assert_eq!(
        (secret.secret[0], secret.enabled_at, secret.last_step),
        (2, 200, None)
    );
    store.set_totp(a.id, None, 300).await.expect("disable");
    assert_eq!(store.totp(a.id).await.expect("off"), None);
    assert!(matches!(
        store.set_totp(a.id + 10_000, Some(&[1u8; 20]), 1).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn expiry_warnings_are_recorded_once(
    store: &Arc<dyn Store>,
    _blobs: &Arc<dyn BlobStore>,
) {
    let a = new_account(store, "warn-a").await;
    assert!(
        !store
            .expiry_warning_sent(a.id, 1_000, 14)
            .await
            .expect("none")
    );
    assert!(
        store
            .record_expiry_warning(a.id, 1_000, 14, 5)
            .await
            .expect("first")
    );
    assert!(
        !store
            .record_expiry_warning(a.id, 1_000, 14, 6)
            .await
            .expect("again")
    );
    assert!(
        store
            .expiry_warning_sent(a.id, 1_000, 14)
            .await
            .expect("sent")
    );
    // Another threshold, or a newer password, is another warning.
    assert!(!store.expiry_warning_sent(a.id, 1_000, 7).await.expect("7"));
    assert!(
        !store
            .expiry_warning_sent(a.id, 2_000, 14)
            .await
            .expect("new password")
    );
    assert!(
        store
            .record_expiry_warning(a.id, 2_000, 14, 7)
            .await
            .expect("new")
    );
}
