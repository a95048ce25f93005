//! QUOTA (RFC 9208): GETQUOTAROOT/GETQUOTA report STORAGE against `quota_bytes`; APPEND and
//! COPY over it fail with NO [OVERQUOTA]; SETQUOTA is refused; no limit means no root.

mod common;
use common::*;

#[tokio::test]
async fn storage_quota() {
    let server = start(|c| c.quota_bytes = 3000, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps.contains(" QUOTA ") && caps.contains("QUOTA=RES-STORAGE"),
        "{caps}"
    );
    let body = format!("Subject: q\r\n\r\n{}\r\n", "x".repeat(1200));
    c.append("INBOX", "", &body).await;
    let t = c.ok("GETQUOTAROOT INBOX").await;
    assert!(t.contains("* QUOTAROOT \"INBOX\" \"\"\r\n"), "{t}");
    assert!(t.contains("* QUOTA \"\" (STORAGE 2 3)\r\n"), "{t}");
    let t = c.ok("GETQUOTA \"\"").await;
    assert!(t.contains("* QUOTA \"\" (STORAGE 2 3)"), "{t}");
    let no = c.cmd("GETQUOTA \"other\"").await;
    assert!(no.contains("NO [NONEXISTENT]"), "{no}");
    c.append("INBOX", "", &body).await;
    // A third copy would pass 3000 octets.
    c.n += 1;
    let tag = format!("t{}", c.n);
    c.send(&format!("{tag} APPEND INBOX {{{}}}\r\n", body.len()))
        .await;
    let cont = c.line().await;
    assert!(cont.starts_with("+ "), "{cont}");
    c.send(&format!("{body}\r\n")).await;
    let t = c.until(&tag).await;
    assert!(t.contains(&format!("{tag} NO [OVERQUOTA]")), "{t}");
    c.ok("SELECT INBOX").await;
    let no = c.cmd("COPY 1 Archive").await;
    assert!(no.contains("NO [OVERQUOTA]"), "{no}");
    c.ok("MOVE 1 Archive").await;
    let no = c.cmd("SETQUOTA \"\" (STORAGE 100)").await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
}

#[tokio::test]
async fn no_quota_no_root() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let t = c.ok("GETQUOTAROOT INBOX").await;
    assert!(t.contains("* QUOTAROOT \"INBOX\"\r\n"), "{t}");
    assert!(!t.contains("* QUOTA "), "{t}");
}
