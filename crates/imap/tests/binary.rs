//! BINARY (RFC 3516): FETCH BINARY[…] and BINARY.SIZE decode base64 and quoted-printable
//! parts; APPEND takes literal8 (`~{n}`) with NUL bytes.

mod common;
use common::*;

const MSG: &str = "From: a@tinh.gov.vn\r\nSubject: binary\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=E1=BA=BF ho=E1=BA=A1ch =3D 1\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECJVBERg==\r\n--b\r\nContent-Type: application/x-odd\r\nContent-Transfer-Encoding: x-strange\r\n\r\n???\r\n--b--\r\n";

#[tokio::test]
async fn fetch_binary_sections() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps.contains(" BINARY"), "{caps}");
    c.append("INBOX", "", MSG).await;
    c.ok("SELECT INBOX").await;

    let f = c.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])").await;
    assert!(f.contains("BINARY[1] {16}\r\nKế hoạch = 1"), "{f}");
    assert!(f.contains("BINARY.SIZE[1] 16"), "{f}");
    assert!(!f.contains("\\Seen"), "PEEK: {f}");
    // NUL bytes come as literal8.
    let f = c.ok("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])").await;
    assert!(f.contains("BINARY.SIZE[2] 7"), "{f}");
    assert!(f.contains("BINARY[2] ~{7}\r\n\u{0}\u{1}\u{2}%PDF"), "{f:?}");
    let f = c.ok("FETCH 1 BINARY.PEEK[2]<3.2>").await;
    assert!(f.contains("BINARY[2]<3> {2}\r\n%P"), "{f}");
    let no = c.cmd("FETCH 1 BINARY.PEEK[3]").await;
    assert!(no.contains("NO [UNKNOWN-CTE]"), "{no}");
    // Without PEEK, \Seen is set.
    let f = c.ok("FETCH 1 BINARY[1]").await;
    assert!(f.contains("\\Seen"), "{f}");
}

#[tokio::test]
async fn append_literal8() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let body = "Subject: nul\r\n\r\na\u{0}b\r\n";
    c.send(&format!("t99 APPEND INBOX ~{{{}}}\r\n", body.len()))
        .await;
    let cont = c.line().await;
    assert!(cont.starts_with("+ "), "{cont}");
    c.send(&format!("{body}\r\n")).await;
    let t = c.until("t99").await;
    assert!(t.contains("t99 OK"), "{t}");
    c.ok("SELECT INBOX").await;
    let f = c.ok("FETCH 1 BINARY.PEEK[]").await;
    assert!(f.contains("BINARY[] ~{"), "{f:?}");
    assert!(f.contains("a\u{0}b"), "{f:?}");
}

/// MULTIAPPEND (RFC 3502): several messages in one APPEND, all or none.
#[tokio::test]
async fn multiappend_all_or_none() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps.contains(" MULTIAPPEND"), "{caps}");
    let (a, b) = ("Subject: one\r\n\r\n1\r\n", "Subject: hai\r\n\r\n2\r\n");
    c.send(&format!(
        "m1 APPEND INBOX (\\Seen $Work) \" 1-Jan-2026 07:00:00 +0700\" {{{}+}}\r\n{a} {{{}+}}\r\n{b}\r\n",
        a.len(),
        b.len()
    ))
    .await;
    let t = c.until("m1").await;
    assert!(t.contains("m1 OK [APPENDUID "), "{t}");
    assert!(t.contains(" 1:2] "), "{t}");
    // The second message is empty, so nothing is kept.
    c.send(&format!(
        "m2 APPEND INBOX {{{}+}}\r\n{a} {{0+}}\r\n\r\n",
        a.len()
    ))
    .await;
    let t = c.until("m2").await;
    assert!(t.contains("m2 NO "), "{t}");
    let st = c.ok("STATUS INBOX (MESSAGES)").await;
    assert!(st.contains("(MESSAGES 2)"), "{st}");
    c.ok("SELECT INBOX").await;
    let f = c.ok("FETCH 1 (FLAGS INTERNALDATE)").await;
    assert!(
        f.contains("FLAGS (\\Seen $Work) INTERNALDATE \"01-Jan-2026 00:00:00 +0000\""),
        "{f}"
    );
}
