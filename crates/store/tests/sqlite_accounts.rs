//! `congvu_store::conformance_accounts` against the embedded backend, plus what only SQLite
//! can show: the audit table refuses UPDATE and DELETE by itself, and an edit made after
//! dropping those triggers is caught by the hash chain (R-POL-10).

use congvu_store::audit_chain::verify_chain;
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::conformance_accounts;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{BlobStore, NewAuditEntry, Store};
use sqlx::Connection;
use std::sync::Arc;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("meta.sqlite"))
        .await
        .expect("open sqlite store");
    let blobs = FsBlobStore::open(&dir.path().join("blobs"))
        .await
        .expect("open blob store");
    Fixture {
        dir,
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
                conformance_accounts::$name(&f.store, &f.blobs).await;
            }
        )*
    };
}

conformance_tests!(
    units_form_a_tree_with_mailboxes,
    details_state_history_and_passwords,
    requests_are_decided_once,
    audit_is_a_hash_chain,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let f = fixture().await;
    conformance_accounts::run_all(f.store.clone(), f.blobs.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_edits_are_refused_then_detected() {
    let f = fixture().await;
    for n in 0..3 {
        f.store
            .append_audit(NewAuditEntry {
                at: n,
                actor: "operator (cli)".into(),
                action: "mailbox.revoke".into(),
                target: format!("u{n}@x.test"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let url = format!("sqlite://{}", f.dir.path().join("meta.sqlite").display());
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let refused = sqlx::query("UPDATE audit SET target = 'x' WHERE id = 2")
        .execute(&mut raw)
        .await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("append-only")),
        "UPDATE must be refused by the trigger"
    );
    assert!(
        sqlx::query("DELETE FROM audit WHERE id = 2")
            .execute(&mut raw)
            .await
            .is_err()
    );
    assert_eq!(verify_chain(&f.store.list_audit().await.unwrap()), Ok(3));

    sqlx::query("DROP TRIGGER audit_no_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE audit SET target = 'someone-else@x.test' WHERE id = 2")
        .execute(&mut raw)
        .await
        .unwrap();
    let broken = verify_chain(&f.store.list_audit().await.unwrap()).unwrap_err();
    assert_eq!(broken.id, 2, "{broken}");
}
