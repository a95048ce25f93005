//! The shared login check seen through POP3 (RFC 3206 codes): an expired password and a
//! reset one get `-ERR [AUTH]` with where to change the password, a suspended mailbox
//! `-ERR [SYS/PERM]`, and each failure is in the audit log.

mod common;

use common::{Options, PASSWORD, base64, connect, start};
use congvu_store::login::LoginPolicy;
use congvu_store::{PasswordChange, Store};

/// The test clock: long after the accounts were made (at 0).
fn late() -> i64 {
    1_000_000
}

#[tokio::test]
async fn expired_reset_and_suspended_are_refused_with_reasons() {
    let server = start(Options {
        login_policy: LoginPolicy {
            user_password_max_age: 1_000,
            admin_password_max_age: 1_000,
            security: Default::default(),
        },
        now: late,
        ..Options::default()
    })
    .await;
    let mut c = connect(&server).await;
    c.cmd("USER an@tinh.gov.vn", "+OK").await;
    let err = c.cmd(&format!("PASS {PASSWORD}"), "-ERR [AUTH]").await;
    assert!(err.contains("expired") && err.contains("webmail"), "{err}");

    let binh = server.account("binh").await;
    let hash = congvu_core::password::hash_password("Reset-Pass-1", &[4u8; 16]).expect("hash");
    server
        .store
        .change_password(
            binh.id,
            PasswordChange {
                hash,
                at: late(),
                must_change: true,
                keep_history: 5,
            },
        )
        .await
        .expect("reset");
    let plain = base64("\0binh@tinh.gov.vn\0Reset-Pass-1");
    let err = c.cmd(&format!("AUTH PLAIN {plain}"), "-ERR [AUTH]").await;
    assert!(err.contains("must be changed"), "{err}");

    let mut c = connect(&server).await;
    c.cmd("USER treo@tinh.gov.vn", "+OK").await;
    let err = c.cmd(&format!("PASS {PASSWORD}"), "-ERR [SYS/PERM]").await;
    assert!(err.contains("suspended"), "{err}");

    let details: Vec<String> = server
        .store
        .list_audit()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.entry.detail)
        .collect();
    for expected in [
        "pop3: password expired",
        "pop3: password must be changed",
        "pop3: mailbox suspended",
    ] {
        assert!(details.iter().any(|d| d == expected), "{details:?}");
    }
}
