//! Extended searching end to end: ESEARCH (RFC 4731), SEARCHRES (RFC 5182), the IMAP4rev2
//! ESEARCH default, and Vietnamese text search with SEARCH CHARSET UTF-8 (issue 3): a query
//! without diacritics matches with or without them, one with diacritics matches exactly,
//! always case-insensitively.

mod common;
use common::*;

/// The tag the next `c.ok`/`c.cmd` will use.
fn next_tag(c: &Client) -> String {
    format!("t{}", c.n + 1)
}

#[tokio::test]
async fn esearch_and_searchres() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps.contains(" ESEARCH") && caps.contains(" SEARCHRES"),
        "{caps}"
    );
    for (n, flags) in [
        (1, "\\Seen"),
        (2, ""),
        (3, "\\Seen"),
        (4, ""),
        (5, "\\Seen"),
    ] {
        c.append(
            "INBOX",
            flags,
            &format!("Subject: m{n}\r\n\r\nbody {n}\r\n"),
        )
        .await;
    }
    c.ok("SELECT INBOX").await;
    let tag = next_tag(&c);
    let t = c.ok("SEARCH RETURN (MIN MAX COUNT ALL) SEEN").await;
    assert!(
        t.contains(&format!(
            "* ESEARCH (TAG \"{tag}\") MIN 1 MAX 5 COUNT 3 ALL 1,3,5\r\n"
        )),
        "{t}"
    );
    let tag = next_tag(&c);
    let t = c.ok("UID SEARCH RETURN () UNSEEN").await;
    assert!(
        t.contains(&format!("* ESEARCH (TAG \"{tag}\") UID ALL 2,4\r\n")),
        "{t}"
    );
    let tag = next_tag(&c);
    let t = c
        .ok("SEARCH RETURN (COUNT) SUBJECT nothing-like-this")
        .await;
    assert!(
        t.contains(&format!("* ESEARCH (TAG \"{tag}\") COUNT 0\r\n")),
        "{t}"
    );
    let bad = c.cmd("SEARCH RETURN (SOMETHING) ALL").await;
    assert!(
        bad.lines().last().unwrap_or_default().contains(" BAD "),
        "{bad}"
    );

    // SAVE alone answers nothing; `$` then stands for the saved messages.
    let t = c.ok("SEARCH RETURN (SAVE) UNSEEN").await;
    assert!(!t.contains("ESEARCH") && !t.contains("* SEARCH"), "{t}");
    let f = c.ok("FETCH $ (UID)").await;
    assert!(
        f.contains("* 2 FETCH (UID 2)") && f.contains("* 4 FETCH (UID 4)"),
        "{f}"
    );
    assert!(!f.contains("* 1 FETCH"), "{f}");
    let s = c.ok("SEARCH $ SUBJECT m4").await;
    assert!(s.contains("* SEARCH 4\r\n"), "{s}");
    let s = c.ok("UID SEARCH OR $ SUBJECT m1").await;
    assert!(s.contains("* SEARCH 1 2 4\r\n"), "{s}");
    c.ok("UID STORE $ +FLAGS.SILENT (\\Deleted)").await;
    let ex = c.ok("EXPUNGE").await;
    assert!(ex.contains("* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n"), "{ex}");
    // The saved messages are gone: `$` is empty and matches nothing, without error.
    let f = c.ok("FETCH $ (FLAGS)").await;
    assert!(!f.contains("FETCH ("), "{f}");
    let s = c.ok("SEARCH $").await;
    assert!(s.contains("* SEARCH\r\n"), "{s}");
    // With MIN/MAX only, SAVE keeps just those.
    c.ok("SEARCH RETURN (SAVE MIN MAX) ALL").await;
    let s = c.ok("SEARCH $").await;
    assert!(s.contains("* SEARCH 1 3\r\n"), "{s}");
    // A string containing `$` is not touched.
    let s = c.ok("SEARCH SUBJECT \"$\"").await;
    assert!(s.contains("* SEARCH\r\n"), "{s}");
}

#[tokio::test]
async fn imap4rev2_clients_get_esearch_and_no_recent() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    c.append("INBOX", "", "Subject: a\r\n\r\nb\r\n").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps.contains("IMAP4rev1 IMAP4rev2 "), "{caps}");
    c.ok("CREATE \"C&APQ-ng v&AQM-n\"").await;
    let t = c.ok("ENABLE IMAP4rev2").await;
    assert!(t.contains("* ENABLED IMAP4rev2"), "{t}");
    // RFC 9051 §5.1: rev2 mailbox names travel in UTF-8.
    let l = c.ok("LIST \"\" \"C*\"").await;
    assert!(l.contains("\"Công văn\""), "{l}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(!sel.contains("RECENT"), "{sel}");
    let tag = next_tag(&c);
    let s = c.ok("SEARCH ALL").await;
    assert!(
        s.contains(&format!("* ESEARCH (TAG \"{tag}\") ALL 1\r\n")),
        "{s}"
    );
    assert!(!s.contains("* SEARCH"), "{s}");
}

/// Vietnamese search through Python imaplib, with CHARSET UTF-8 and UTF-8 literals.
#[tokio::test]
async fn python_vietnamese_search() {
    let server = start(|_| {}, None).await;
    python(
        &server,
        r#"
import imaplib, sys
port = int(sys.argv[1]); password = sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m._encoding = "utf-8"
m.login("an@tinh.gov.vn", password)
msgs = [
    "From: =?UTF-8?B?xJDhurduZyBUaOG7iyBIxrDGoW5n?= <huong@tinh.gov.vn>\r\nSubject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o_Nguy=E1=BB=85n?=\r\n\r\nG\u1eedi anh Nguy\u1ec5n V\u0103n A.\r\n",
    "From: Nguyen Van B <b@tinh.gov.vn>\r\nSubject: Lich hop\r\n\r\nKhong dau: nguyen van b\r\n",
    "From: Tran C <c@tinh.gov.vn>\r\nSubject: Other\r\n\r\nnothing here\r\n",
]
for msg in msgs:
    typ, data = m.append("INBOX", None, None, msg.encode("utf-8"))
    assert typ == "OK", data
m.select("INBOX")
def search(field, text):
    m.literal = text.encode("utf-8")
    typ, data = m.search("UTF-8", field)
    assert typ == "OK", (field, text, data)
    return data[0].split()
# Without diacritics: matches with and without them, any case.
assert search("TEXT", "nguyen") == [b"1", b"2"], search("TEXT", "nguyen")
assert search("FROM", "NGUYEN") == [b"2"], search("FROM", "NGUYEN")
assert search("SUBJECT", "nguyen") == [b"1"]
assert search("FROM", "dang thi huong") == [b"1"], search("FROM", "dang thi huong")
# With diacritics: exact (but still case-insensitive).
assert search("TEXT", "Nguy\u1ec5n") == [b"1"], search("TEXT", "Nguy\u1ec5n")
assert search("BODY", "NGUY\u1ec4N") == [b"1"]
assert search("FROM", "\u0110\u1eb7ng Th\u1ecb H\u01b0\u01a1ng") == [b"1"]
assert search("FROM", "\u0110ang") == [], "a diacritic query must not match plain text"
typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT", "lich")
assert typ == "OK" and data[0].split() == [b"2"], data
m.logout()
print("ok")
"#,
    )
    .await;
}
