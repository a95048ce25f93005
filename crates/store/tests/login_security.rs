//! R-POL-9 in the shared login check against a real SQLite store: the failed-login backoff
//! (per login and address, per address, per login from anywhere but the owner's networks),
//! and new-network events. The clock is a parameter, so no test sleeps.

use congvu_core::password::hash_password;
use congvu_core::security::SecurityPolicy;
use congvu_store::login::{LoginPolicy, LoginRefusal, LoginService, check_login};
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountDetails, AccountKind, NewAccount, Store};
use std::sync::Arc;

const T0: i64 = 1_800_000_000;
const PW: &str = "Main@Pass1";

fn policy() -> LoginPolicy {
    LoginPolicy {
        user_password_max_age: 0,
        admin_password_max_age: 0,
        security: SecurityPolicy {
            login_failures_per_account: 3,
            login_failures_per_ip: 10,
            login_failures_per_account_all_ips: 6,
            login_backoff_base: 10,
            login_backoff_max: 60,
            ..SecurityPolicy::RECOMMENDED
        },
    }
}

async fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    store
        .create_account_with_details(
            NewAccount {
                address: "an@sec.test".into(),
                display_name: "An".into(),
                password_hash: hash_password(PW, &rand::random()).expect("hash"),
                kind: AccountKind::Person,
                created_at: T0,
            },
            AccountDetails {
                password_changed_at: T0,
                ..Default::default()
            },
        )
        .await
        .expect("account");
    (dir, store)
}

async fn try_login(
    store: &Arc<dyn Store>,
    password: &str,
    ip: &str,
    now: i64,
) -> Result<(), LoginRefusal> {
    check_login(
        store.as_ref(),
        &policy(),
        LoginService::Imap,
        "an@sec.test",
        password,
        None,
        ip,
        now,
    )
    .await
    .map(|_| ())
}

fn wait_of(result: Result<(), LoginRefusal>) -> Option<i64> {
    match result {
        Err(LoginRefusal::Backoff { retry_after }) => Some(retry_after),
        _ => None,
    }
}

async fn actions(store: &Arc<dyn Store>, action: &str) -> usize {
    store
        .list_audit()
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.entry.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_grows_and_the_right_password_works_after_the_wait() {
    let (_dir, store) = open().await;
    let ip = "198.51.100.9";
    // The owner's network is known from an earlier login.
    try_login(&store, PW, ip, T0).await.expect("first login");
    for i in 0..3 {
        assert!(matches!(
            try_login(&store, "wrong", ip, T0 + 1 + i).await,
            Err(LoginRefusal::BadCredentials)
        ));
    }
    // Third failure at T0+3: wait 10 s, even with the right password.
    assert_eq!(wait_of(try_login(&store, PW, ip, T0 + 4).await), Some(9));
    assert_eq!(actions(&store, "security.bruteforce").await, 1);
    // Another address is not held back by this pair.
    try_login(&store, PW, "203.0.113.5", T0 + 5)
        .await
        .expect("another address");
    // After the wait the right password is accepted, and the count starts again.
    try_login(&store, PW, ip, T0 + 14)
        .await
        .expect("after the wait");
    for i in 0..3 {
        let _ = try_login(&store, "wrong", ip, T0 + 20 + i).await;
    }
    assert_eq!(
        wait_of(try_login(&store, "wrong", ip, T0 + 23).await),
        Some(9)
    );
    // A failure after the wait doubles it (4th failure: 20 s), capped at 60 s.
    let _ = try_login(&store, "wrong", ip, T0 + 40).await;
    assert_eq!(wait_of(try_login(&store, PW, ip, T0 + 41).await), Some(19));
    let events = store.list_audit().await.expect("audit");
    let pair_bursts = events
        .iter()
        .filter(|e| {
            e.entry.action == "security.bruteforce"
                && e.entry.detail.contains("(this login from this address)")
        })
        .count();
    assert_eq!(pair_bursts, 2, "one event per burst");
    // The sixth failure of the login from anywhere is a burst of its own.
    assert_eq!(actions(&store, "security.bruteforce").await, 3);
    // Waiting refusals are not audited as failed logins one by one.
    let failed = actions(&store, "login.failed").await;
    let _ = try_login(&store, "wrong", ip, T0 + 42).await;
    assert_eq!(actions(&store, "login.failed").await, failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_everywhere_never_lock_the_owners_network() {
    let (_dir, store) = open().await;
    let home = "198.51.100.9";
    try_login(&store, PW, home, T0).await.expect("seed");
    // Six guessers on six networks, one guess each: the login from anywhere must wait ...
    for i in 0..6 {
        let _ = try_login(&store, "wrong", &format!("203.0.{i}.1"), T0 + 1).await;
    }
    assert!(wait_of(try_login(&store, PW, "192.0.2.1", T0 + 2).await).is_some());
    // ... but not from the owner's network.
    try_login(&store, PW, "198.51.100.77", T0 + 2)
        .await
        .expect("the owner's /24 is not held back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_network_is_an_event_but_the_first_login_only_seeds() {
    let (_dir, store) = open().await;
    try_login(&store, PW, "198.51.100.9", T0)
        .await
        .expect("seed");
    try_login(&store, PW, "198.51.100.10", T0 + 1)
        .await
        .expect("same /24");
    assert_eq!(actions(&store, "security.new_network").await, 0);
    try_login(&store, PW, "2001:db8:7::1", T0 + 2)
        .await
        .expect("new /48");
    try_login(&store, PW, "2001:db8:7:9::2", T0 + 3)
        .await
        .expect("same /48");
    try_login(&store, PW, "127.0.0.1", T0 + 4)
        .await
        .expect("loopback is exempt");
    assert_eq!(actions(&store, "security.new_network").await, 1);
    let pending = store.pending_security_events(10).await.expect("events");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event.kind, "security.new_network");
    assert_eq!(pending[0].event.source_ip, "2001:db8:7::1");
    assert!(pending[0].event.account.is_some());
    store
        .mark_security_event_notified(pending[0].id, T0 + 5)
        .await
        .expect("mark");
    assert!(
        store
            .pending_security_events(10)
            .await
            .expect("events")
            .is_empty()
    );
}
