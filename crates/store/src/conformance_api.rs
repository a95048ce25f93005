//! Conformance checks for the JSON API's sessions and tokens (`create_api_credential`,
//! `use_api_credential`, `list_api_credentials`, `revoke_api_credential`,
//! `delete_api_credential`), run against every backend like `conformance`.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::conformance::new_account;
use crate::{ApiCredentialKind, NewApiCredential, Store, StoreError};
use std::sync::Arc;

/// Runs every check of this module on the same store.
pub async fn run_all(store: Arc<dyn Store>) {
    credentials_are_found_by_hash_until_they_expire(&store).await;
    tokens_are_listed_and_revoked(&store).await;
}

fn new(
    hash: &str,
    account: i64,
    kind: ApiCredentialKind,
    expires_at: Option<i64>,
) -> NewApiCredential {
    NewApiCredential {
        token_hash: hash.into(),
        account,
        kind,
        label: String::new(),
        restricted: String::new(),
        created_at: 1_000,
        expires_at,
    }
}

pub async fn credentials_are_found_by_hash_until_they_expire(store: &Arc<dyn Store>) {
    let a = new_account(store, "api-session").await;
    let mut fresh = new("h-session", a.id, ApiCredentialKind::Session, Some(2_000));
    fresh.restricted = "expired".into();
    let made = store.create_api_credential(fresh).await.expect("create");
    assert_eq!(made.restricted, "expired");
    assert_eq!(made.last_used_at, None);
    let found = store
        .use_api_credential("h-session", 1_500)
        .await
        .expect("use")
        .expect("found before expiry");
    assert_eq!(found.id, made.id);
    assert_eq!(found.account, a.id);
    assert_eq!(found.last_used_at, Some(1_500));
    assert!(
        store
            .use_api_credential("h-session", 2_000)
            .await
            .expect("use")
            .is_none(),
        "a session is gone at its expiry"
    );
    assert!(
        store
            .use_api_credential("h-other", 1_500)
            .await
            .expect("use")
            .is_none()
    );
    // The same hash twice is refused; an unknown account is NotFound.
    let dup = store
        .create_api_credential(new("h-session", a.id, ApiCredentialKind::Session, None))
        .await;
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    let orphan = store
        .create_api_credential(new("h-orphan", 999_999, ApiCredentialKind::Session, None))
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
    // Logging out deletes by hash, once.
    assert!(
        store
            .delete_api_credential("h-session")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_api_credential("h-session")
            .await
            .expect("delete")
    );
}

pub async fn tokens_are_listed_and_revoked(store: &Arc<dyn Store>) {
    let a = new_account(store, "api-token-a").await;
    let b = new_account(store, "api-token-b").await;
    let mut t1 = new("h-t1", a.id, ApiCredentialKind::Token, None);
    t1.label = "sao lưu hằng đêm".into();
    let t1 = store.create_api_credential(t1).await.expect("t1");
    let t2 = store
        .create_api_credential(new("h-t2", b.id, ApiCredentialKind::Token, None))
        .await
        .expect("t2");
    // An expired session is swept when a new credential is made.
    store
        .create_api_credential(new("h-old", a.id, ApiCredentialKind::Session, Some(10)))
        .await
        .expect("old session");
    store
        .create_api_credential(new("h-new", a.id, ApiCredentialKind::Session, Some(5_000)))
        .await
        .expect("new session");
    let sessions = store
        .list_api_credentials(ApiCredentialKind::Session, Some(a.id))
        .await
        .expect("sessions");
    assert_eq!(
        sessions
            .iter()
            .map(|s| s.token_hash.as_str())
            .collect::<Vec<_>>(),
        ["h-new"]
    );
    let of_a = store
        .list_api_credentials(ApiCredentialKind::Token, Some(a.id))
        .await
        .expect("list a");
    assert_eq!(of_a.len(), 1);
    assert_eq!(of_a[0].label, "sao lưu hằng đêm");
    let all = store
        .list_api_credentials(ApiCredentialKind::Token, None)
        .await
        .expect("list all");
    assert!(all.iter().any(|t| t.id == t1.id) && all.iter().any(|t| t.id == t2.id));
    // A token never expires until revoked.
    assert!(
        store
            .use_api_credential("h-t1", i64::MAX - 1)
            .await
            .expect("use")
            .is_some()
    );
    store.revoke_api_credential(t1.id).await.expect("revoke");
    assert!(
        store
            .use_api_credential("h-t1", 1_000)
            .await
            .expect("use")
            .is_none()
    );
    let again = store.revoke_api_credential(t1.id).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
}
