//! Conformance check for Sieve scripts and the vacation memory, run against every backend.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::conformance::new_account;
use crate::{Store, StoreError};
use std::sync::Arc;

pub async fn run_all(store: Arc<dyn Store>) {
    scripts_have_one_active(&store).await;
    vacation_replies_once_per_period(&store).await;
}

pub async fn scripts_have_one_active(store: &Arc<dyn Store>) {
    let a = new_account(store, "sieve-owner").await;
    let b = new_account(store, "sieve-other").await;
    assert!(store.sieve_scripts(a.id).await.expect("list").is_empty());
    assert_eq!(store.active_sieve_script(a.id).await.expect("active"), None);

    store
        .put_sieve_script(a.id, "loc", b"keep;", 10)
        .await
        .expect("put");
    store
        .put_sieve_script(a.id, "nghi-phep", b"discard;", 11)
        .await
        .expect("put");
    store
        .set_active_sieve_script(a.id, Some("loc"))
        .await
        .expect("activate");
    // Replacing keeps the active state; the other mailbox sees nothing.
    store
        .put_sieve_script(a.id, "loc", b"stop;", 12)
        .await
        .expect("replace");
    assert_eq!(
        store.active_sieve_script(a.id).await.expect("active"),
        Some(("loc".to_string(), b"stop;".to_vec()))
    );
    assert!(store.sieve_scripts(b.id).await.expect("list").is_empty());
    assert_eq!(store.sieve_script(b.id, "loc").await.expect("get"), None);

    // Switching leaves exactly one active.
    store
        .set_active_sieve_script(a.id, Some("nghi-phep"))
        .await
        .expect("switch");
    let list = store.sieve_scripts(a.id).await.expect("list");
    let active: Vec<_> = list
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, vec!["nghi-phep"]);
    assert_eq!(
        list.iter().find(|s| s.name == "loc").map(|s| s.size),
        Some(5)
    );

    // The active script cannot be deleted; unknown names are NotFound.
    assert!(matches!(
        store.delete_sieve_script(a.id, "nghi-phep").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.delete_sieve_script(a.id, "none").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_active_sieve_script(a.id, Some("none")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.rename_sieve_script(a.id, "loc", "nghi-phep").await,
        Err(StoreError::AlreadyExists(_))
    ));
    store
        .rename_sieve_script(a.id, "nghi-phep", "vacation")
        .await
        .expect("rename");
    assert_eq!(
        store
            .active_sieve_script(a.id)
            .await
            .expect("active")
            .map(|(n, _)| n),
        Some("vacation".to_string()),
        "renaming keeps the script active"
    );
    store
        .set_active_sieve_script(a.id, None)
        .await
        .expect("deactivate");
    assert_eq!(store.active_sieve_script(a.id).await.expect("active"), None);
    store
        .delete_sieve_script(a.id, "vacation")
        .await
        .expect("delete");
    let names: Vec<_> = store
        .sieve_scripts(a.id)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["loc"]);
}

pub async fn vacation_replies_once_per_period(store: &Arc<dyn Store>) {
    let a = new_account(store, "vacation-owner").await;
    let day = 86_400;
    let claim = |sender: &'static str, now: i64| {
        let store = store.clone();
        async move {
            store
                .claim_vacation_reply(a.id, "h1", sender, now, 7 * day)
                .await
                .expect("claim")
        }
    };
    assert!(claim("x@a.gov.vn", 1_000_000).await);
    assert!(
        !claim("X@A.gov.vn", 1_000_000 + day).await,
        "same sender, any case"
    );
    assert!(claim("y@a.gov.vn", 1_000_000 + day).await, "another sender");
    assert!(
        claim("x@a.gov.vn", 1_000_000 + 7 * day).await,
        "after the period"
    );
    assert!(!claim("x@a.gov.vn", 1_000_000 + 8 * day).await);
}
