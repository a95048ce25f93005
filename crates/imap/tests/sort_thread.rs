//! SORT and THREAD (RFC 5256) end to end, with the Vietnamese collation and base subjects.

mod common;
use common::*;

fn msg(from: &str, subject: &str, date: &str, id: &str, refs: &str) -> String {
    format!(
        "From: {from}\r\nTo: binh@tinh.gov.vn\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n{refs}\r\nbody\r\n"
    )
}

#[tokio::test]
async fn sort_and_thread() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    for want in ["SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"] {
        assert!(caps.contains(want), "{want}: {caps}");
    }
    let messages = [
        msg(
            "=?UTF-8?Q?Nguy=E1=BB=85n?= <nguyen@tinh.gov.vn>",
            "=?UTF-8?Q?B=C3=A1o_c=C3=A1o?=",
            "Fri, 02 Jan 2026 08:00:00 +0700",
            "a@x",
            "",
        ),
        msg(
            "Dang <dang@tinh.gov.vn>",
            "Re: =?UTF-8?Q?B=C3=A1o_c=C3=A1o?=",
            "Sat, 03 Jan 2026 08:00:00 +0700",
            "b@x",
            "In-Reply-To: <a@x>\r\n",
        ),
        msg(
            "An <an@tinh.gov.vn>",
            "=?UTF-8?Q?L=E1=BB=8Bch_h=E1=BB=8Dp?=",
            "Thu, 01 Jan 2026 08:00:00 +0700",
            "c@x",
            "",
        ),
        msg(
            "Binh <binh@tinh.gov.vn>",
            "TL: bao cao",
            "Sun, 04 Jan 2026 08:00:00 +0700",
            "d@x",
            "References: <a@x> <b@x>\r\n",
        ),
    ];
    for m in &messages {
        c.append("INBOX", "", m).await;
    }
    c.ok("SELECT INBOX").await;
    let s = c.ok("SORT (DATE) UTF-8 ALL").await;
    assert!(s.contains("* SORT 3 1 2 4\r\n"), "{s}");
    let s = c.ok("SORT (REVERSE DATE) UTF-8 ALL").await;
    assert!(s.contains("* SORT 4 2 1 3\r\n"), "{s}");
    // Base subjects: "Báo cáo" ×2, "bao cao" (folds equal, exact form first), "Lịch họp".
    let s = c.ok("SORT (SUBJECT ARRIVAL) UTF-8 ALL").await;
    assert!(s.contains("* SORT 4 1 2 3\r\n"), "{s}");
    let s = c.ok("SORT (FROM) UTF-8 ALL").await;
    assert!(s.contains("* SORT 3 4 2 1\r\n"), "{s}");
    let s = c.ok("UID SORT (SIZE) UTF-8 SUBJECT \"bao cao\"").await;
    assert!(s.starts_with("* SORT "), "{s}");
    assert!(!s.contains(" 3"), "only the three báo cáo messages: {s}");
    let bad = c.cmd("SORT (DATE) KOI8-R ALL").await;
    assert!(bad.contains("NO [BADCHARSET"), "{bad}");

    let t = c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert!(t.contains("* THREAD (3)(1 (2)(4))\r\n"), "{t}");
    let t = c.ok("THREAD REFERENCES UTF-8 ALL").await;
    assert!(t.contains("* THREAD (3)(1 2 4)\r\n"), "{t}");
    let t = c.ok("UID THREAD REFERENCES UTF-8 NOT SUBJECT lich").await;
    assert!(t.contains("* THREAD (1 2 4)\r\n"), "{t}");
}

/// Python imaplib's sort() and thread() parse our answers.
#[tokio::test]
async fn python_sort_thread() {
    let server = start(|_| {}, None).await;
    python(
        &server,
        r#"
import imaplib, sys
port = int(sys.argv[1]); password = sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m._encoding = "utf-8"
m.login("an@tinh.gov.vn", password)
for subj, size in (("Re: zeta", 30), ("alpha", 1), ("zeta", 10)):
    m.append("INBOX", None, None, ("Subject: %s\r\n\r\n%s\r\n" % (subj, "x" * size)).encode())
m.select("INBOX")
typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and data == [b"2 1 3"], data
typ, data = m.sort("(REVERSE SIZE)", "UTF-8", "ALL")
assert data == [b"1 3 2"], data
typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
assert typ == "OK" and data == [b"(1 3)(2)"], data
m.logout()
print("ok")
"#,
    )
    .await;
}
