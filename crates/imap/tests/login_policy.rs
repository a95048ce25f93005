//! The shared login check seen through IMAP: `NO [EXPIRED]` for an expired or reset password
//! with where to change it, `NO [AUTHENTICATIONFAILED]` naming app passwords when TOTP is on,
//! AUTHENTICATE LOGIN (draft-murchison-sasl-login) with and without SASL-IR, and the audit
//! entries failures leave.

mod common;

use common::{Client, PASSWORD, start};
use congvu_store::login::LoginPolicy;
use congvu_store::{NewAppPassword, PasswordChange, Store};

/// The test clock: long after the accounts were made (at 0).
fn late() -> i64 {
    1_000_000
}

#[tokio::test]
async fn expired_and_reset_passwords_get_expired() {
    let server = start(
        |c| {
            c.login_policy = LoginPolicy {
                user_password_max_age: 1_000,
                admin_password_max_age: 1_000,
                security: Default::default(),
            };
            c.now = late;
        },
        None,
    )
    .await;
    let (mut c, _) = Client::connect(&server).await;
    let no = c.cmd(&format!("LOGIN an@tinh.gov.vn \"{PASSWORD}\"")).await;
    assert!(
        no.contains("NO [EXPIRED]") && no.contains("webmail"),
        "{no}"
    );

    // A fresh password set by the operator is refused as must-change.
    let binh = server
        .store
        .account_by_address("binh@tinh.gov.vn")
        .await
        .expect("read")
        .expect("binh");
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
    let (mut c, _) = Client::connect(&server).await;
    let no = c.cmd("LOGIN binh@tinh.gov.vn Reset-Pass-1").await;
    assert!(
        no.contains("NO [EXPIRED]") && no.contains("must be changed"),
        "{no}"
    );

    let audit = server.store.list_audit().await.expect("audit");
    let details: Vec<&str> = audit.iter().map(|e| e.entry.detail.as_str()).collect();
    assert!(details.contains(&"imap: password expired"), "{details:?}");
    assert!(
        details.contains(&"imap: password must be changed"),
        "{details:?}"
    );
    assert!(audit.iter().all(|e| e.entry.source_ip == "127.0.0.1"));
}

#[tokio::test]
async fn authenticate_login_and_app_passwords() {
    let server = start(|_| {}, None).await;
    let (mut c, _) = Client::connect(&server).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps.contains("AUTH=PLAIN AUTH=LOGIN"), "{caps}");

    // LOGIN with both challenges.
    c.send("a AUTHENTICATE LOGIN\r\n").await;
    assert_eq!(c.line().await.trim_end(), "+ VXNlcm5hbWU6");
    c.send(&format!("{}\r\n", base64("an@tinh.gov.vn"))).await;
    assert_eq!(c.line().await.trim_end(), "+ UGFzc3dvcmQ6");
    c.send(&format!("{}\r\n", base64(PASSWORD))).await;
    let ok = c.until("a").await;
    assert!(ok.contains("a OK"), "{ok}");

    // With SASL-IR the user name comes with the command; `*` cancels.
    let (mut c, _) = Client::connect(&server).await;
    c.send(&format!(
        "b AUTHENTICATE LOGIN {}\r\n",
        base64("binh@tinh.gov.vn")
    ))
    .await;
    assert_eq!(c.line().await.trim_end(), "+ UGFzc3dvcmQ6");
    c.send("*\r\n").await;
    let bad = c.until("b").await;
    assert!(bad.contains("b BAD") && bad.contains("cancelled"), "{bad}");

    // TOTP on: the main password is refused with a word about app passwords, which work.
    let an = server
        .store
        .account_by_address("an@tinh.gov.vn")
        .await
        .expect("read")
        .expect("an");
    server
        .store
        .set_totp(an.id, Some(&[5u8; 20]), 0)
        .await
        .expect("totp");
    let hash = congvu_core::password::hash_password("app-pass-word", &[6u8; 16]).expect("hash");
    server
        .store
        .add_app_password(NewAppPassword {
            account: an.id,
            label: "Outlook".into(),
            password_hash: hash,
            created_at: 0,
        })
        .await
        .expect("app password");
    let (mut c, _) = Client::connect(&server).await;
    let no = c.cmd(&format!("LOGIN an@tinh.gov.vn \"{PASSWORD}\"")).await;
    assert!(
        no.contains("NO [AUTHENTICATIONFAILED]") && no.contains("app password"),
        "{no}"
    );
    c.send("c AUTHENTICATE LOGIN\r\n").await;
    c.line().await;
    c.send(&format!("{}\r\n", base64("an@tinh.gov.vn"))).await;
    c.line().await;
    c.send(&format!("{}\r\n", base64("app-pass-word"))).await;
    let ok = c.until("c").await;
    assert!(ok.contains("c OK"), "{ok}");
}

fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let v = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(v[0]) << 16) | (u32::from(v[1]) << 8) | u32::from(v[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
