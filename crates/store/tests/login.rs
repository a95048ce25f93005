//! The app-password/TOTP conformance check on SqliteStore, and `login::check_login` against a
//! real SQLite store: every refusal, the service rules and the audit entries it leaves.

use congvu_core::lifecycle::PasswordState;
use congvu_core::password::hash_password;
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::login::{LoginOk, LoginPolicy, LoginRefusal, LoginService, check_login};
use congvu_store::sqlite::SqliteStore;
use congvu_store::{
    AccountDetails, AccountKind, AccountState, BlobStore, NewAccount, NewAppPassword,
    PasswordChange, StateChange, Store, conformance_login,
};
use std::sync::Arc;

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const POLICY: LoginPolicy = LoginPolicy {
    user_password_max_age: 180 * DAY,
    admin_password_max_age: 90 * DAY,
    security: congvu_core::security::SecurityPolicy::OFF,
};

async fn open() -> (tempfile::TempDir, Arc<dyn Store>, Arc<dyn BlobStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let blobs: Arc<dyn BlobStore> = Arc::new(
        FsBlobStore::open(&dir.path().join("blobs"))
            .await
            .expect("blobs"),
    );
    (dir, store, blobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_passwords_and_totp_conform() {
    let (_dir, store, blobs) = open().await;
    conformance_login::run_all(store, blobs).await;
}

fn hash(password: &str) -> String {
    hash_password(password, &rand::random()).expect("hash")
}

async fn account(store: &Arc<dyn Store>, local: &str, kind: AccountKind, changed_at: i64) -> i64 {
    store
        .create_account_with_details(
            NewAccount {
                address: format!("{local}@login.test"),
                display_name: local.to_string(),
                password_hash: hash("Main@Pass1"),
                kind,
                created_at: changed_at,
            },
            AccountDetails {
                password_changed_at: changed_at,
                ..Default::default()
            },
        )
        .await
        .expect("account")
        .id
}

async fn login(
    store: &Arc<dyn Store>,
    service: LoginService,
    address: &str,
    password: &str,
    code: Option<&str>,
    now: i64,
) -> Result<LoginOk, LoginRefusal> {
    check_login(
        store.as_ref(),
        &POLICY,
        service,
        address,
        password,
        code,
        "192.0.2.7",
        now,
    )
    .await
}

const MAIL: [LoginService; 3] = [LoginService::Imap, LoginService::Pop3, LoginService::Smtp];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_login_rules() {
    let (_dir, store, _blobs) = open().await;
    account(&store, "an", AccountKind::Person, T0).await;
    let op = account(&store, "op", AccountKind::Operator, T0).await;

    // Right password, any service, any case of the address.
    for service in MAIL.into_iter().chain([LoginService::Web]) {
        let ok = login(
            &store,
            service,
            " AN@login.test ",
            "Main@Pass1",
            None,
            T0 + DAY,
        )
        .await
        .expect("login");
        assert_eq!(ok.account.address, "an@login.test");
        assert_eq!(ok.password_state, PasswordState::Valid);
        assert!(!ok.via_app_password);
    }
    // Wrong password and unknown login: the same refusal.
    for (who, pw) in [
        ("an@login.test", "wrong"),
        ("nobody@login.test", "Main@Pass1"),
        ("", ""),
    ] {
        assert!(matches!(
            login(&store, LoginService::Imap, who, pw, None, T0).await,
            Err(LoginRefusal::BadCredentials)
        ));
    }

    // Expiry: a person after 180 days, an operator after 90 (admin_password_max_age).
    let soon = login(
        &store,
        LoginService::Imap,
        "an@login.test",
        "Main@Pass1",
        None,
        T0 + 170 * DAY,
    )
    .await
    .expect("still valid");
    assert_eq!(soon.password_state, PasswordState::ExpiresSoon(10));
    for service in MAIL {
        assert!(matches!(
            login(
                &store,
                service,
                "an@login.test",
                "Main@Pass1",
                None,
                T0 + 180 * DAY
            )
            .await,
            Err(LoginRefusal::Expired)
        ));
        assert!(matches!(
            login(
                &store,
                service,
                "op@login.test",
                "Main@Pass1",
                None,
                T0 + 90 * DAY
            )
            .await,
            Err(LoginRefusal::Expired)
        ));
    }
    // The web may log in with an expired password, only to change it (the API restricts).
    let web = login(
        &store,
        LoginService::Web,
        "an@login.test",
        "Main@Pass1",
        None,
        T0 + 181 * DAY,
    )
    .await
    .expect("web with an expired password");
    assert_eq!(web.password_state, PasswordState::Expired);
    // A wrong password on an expired account is still just a bad password.
    assert!(matches!(
        login(
            &store,
            LoginService::Imap,
            "op@login.test",
            "nope",
            None,
            T0 + 90 * DAY
        )
        .await,
        Err(LoginRefusal::BadCredentials)
    ));

    // A reset password must be changed first.
    store
        .change_password(
            op,
            PasswordChange {
                hash: hash("Reset@Pass22"),
                at: T0 + DAY,
                must_change: true,
                keep_history: 5,
            },
        )
        .await
        .expect("reset");
    for service in MAIL {
        assert!(matches!(
            login(
                &store,
                service,
                "op@login.test",
                "Reset@Pass22",
                None,
                T0 + DAY
            )
            .await,
            Err(LoginRefusal::MustChange)
        ));
    }
    let web = login(
        &store,
        LoginService::Web,
        "op@login.test",
        "Reset@Pass22",
        None,
        T0 + DAY,
    )
    .await
    .expect("web may change it");
    assert_eq!(web.password_state, PasswordState::MustChange);

    // Suspended and revoked mailboxes, told only after a right password.
    let an = store
        .account_by_address("an@login.test")
        .await
        .expect("read")
        .expect("an");
    for (from, to) in [
        (AccountState::Active, AccountState::Suspended),
        (AccountState::Suspended, AccountState::Revoked),
    ] {
        store
            .change_account_state(
                an.id,
                StateChange {
                    from,
                    to,
                    at: T0,
                    reason: "test".into(),
                },
            )
            .await
            .expect("state");
        assert!(matches!(
            login(&store, LoginService::Pop3, "an@login.test", "Main@Pass1", None, T0).await,
            Err(LoginRefusal::Disabled(s)) if s == to
        ));
        assert!(matches!(
            login(&store, LoginService::Pop3, "an@login.test", "bad", None, T0).await,
            Err(LoginRefusal::BadCredentials)
        ));
    }

    // Every refusal was audited, with service, reason and source IP, never the password.
    let audit = store.list_audit().await.expect("audit");
    assert!(audit.len() >= 15, "{}", audit.len());
    assert!(audit.iter().all(|e| e.entry.action == "login.failed"));
    assert!(audit.iter().all(|e| e.entry.source_ip == "192.0.2.7"));
    assert!(audit.iter().all(
        |e| !e.entry.detail.contains("Main@Pass1") && !e.entry.detail.contains("Reset@Pass22")
    ));
    assert!(
        audit
            .iter()
            .any(|e| e.entry.actor == "nobody@login.test"
                && e.entry.detail == "imap: bad credentials")
    );
    assert!(audit.iter().any(|e| e.entry.actor == "op@login.test"
        && e.entry.role == "operator"
        && e.entry.detail == "smtp: password must be changed"));
    assert!(
        audit
            .iter()
            .any(|e| e.entry.detail == "pop3: mailbox revoked")
    );
    assert!(
        !audit
            .iter()
            .any(|e| e.entry.detail == "web: bad credentials")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_passwords_and_totp() {
    let (_dir, store, _blobs) = open().await;
    let id = account(&store, "tf", AccountKind::Person, T0).await;
    store
        .add_app_password(NewAppPassword {
            account: id,
            label: "phone".into(),
            password_hash: hash("app-secret-1"),
            created_at: T0,
        })
        .await
        .expect("app password");

    // App passwords work for mail programs, are recorded as used, and do not expire.
    for service in MAIL {
        let ok = login(
            &store,
            service,
            "tf@login.test",
            "app-secret-1",
            None,
            T0 + 400 * DAY,
        )
        .await
        .expect("app password login");
        assert!(ok.via_app_password);
        assert_eq!(ok.app_password_label.as_deref(), Some("phone"));
        assert_eq!(ok.password_state, PasswordState::Valid);
    }
    let used = store.app_passwords(id).await.expect("list");
    assert_eq!(used[0].last_used_at, Some(T0 + 400 * DAY));
    // Never for the web.
    assert!(matches!(
        login(
            &store,
            LoginService::Web,
            "tf@login.test",
            "app-secret-1",
            None,
            T0
        )
        .await,
        Err(LoginRefusal::BadCredentials)
    ));

    // With TOTP on: the main password alone opens nothing.
    let secret = [9u8; 20];
    store.set_totp(id, Some(&secret), T0).await.expect("totp");
    for service in MAIL {
        assert!(matches!(
            login(&store, service, "tf@login.test", "Main@Pass1", None, T0).await,
            Err(LoginRefusal::AppPasswordRequired)
        ));
        login(&store, service, "tf@login.test", "app-secret-1", None, T0)
            .await
            .expect("app password still works");
    }
    let now = T0 + 100;
    let code = congvu_core::totp::code_at(&secret, now).expect("code");
    assert!(matches!(
        login(
            &store,
            LoginService::Web,
            "tf@login.test",
            "Main@Pass1",
            None,
            now
        )
        .await,
        Err(LoginRefusal::SecondFactorRequired)
    ));
    assert!(matches!(
        login(
            &store,
            LoginService::Web,
            "tf@login.test",
            "Main@Pass1",
            Some("000000"),
            now
        )
        .await,
        Err(LoginRefusal::SecondFactorRequired)
    ));
    // A right code with a wrong password is a bad password (the code is not even looked at).
    assert!(matches!(
        login(
            &store,
            LoginService::Web,
            "tf@login.test",
            "bad",
            Some(&code),
            now
        )
        .await,
        Err(LoginRefusal::BadCredentials)
    ));
    login(
        &store,
        LoginService::Web,
        "tf@login.test",
        "Main@Pass1",
        Some(&code),
        now,
    )
    .await
    .expect("password and code");
    // The same code twice is refused (RFC 6238 §5.2).
    assert!(matches!(
        login(
            &store,
            LoginService::Web,
            "tf@login.test",
            "Main@Pass1",
            Some(&code),
            now
        )
        .await,
        Err(LoginRefusal::SecondFactorRequired)
    ));
    let audit = store.list_audit().await.expect("audit");
    assert!(
        audit.iter().any(
            |e| e.entry.detail == "imap: main password refused: TOTP on, app password required"
        )
    );
    assert!(
        audit
            .iter()
            .any(|e| e.entry.detail == "web: second factor missing or wrong")
    );
}
