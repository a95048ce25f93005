//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE selection and
//! CREATE-SPECIAL-USE (RFC 6154), STATUS=SIZE (RFC 8438).

mod common;
use common::*;

#[tokio::test]
async fn list_extended_status_and_special_use() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    for want in [
        "LIST-EXTENDED",
        "LIST-STATUS",
        "CREATE-SPECIAL-USE",
        "STATUS=SIZE",
    ] {
        assert!(caps.contains(want), "{want}: {caps}");
    }
    c.ok("CREATE \"Công văn/2026\"").await;
    c.ok("CREATE \"Công văn/Cũ\"").await;
    c.ok("UNSUBSCRIBE \"Công văn\"").await;
    c.ok("UNSUBSCRIBE \"Công văn/Cũ\"").await;
    c.append("INBOX", "", "Subject: a\r\n\r\nhello\r\n").await;

    // Several patterns, RETURN (SUBSCRIBED CHILDREN STATUS (…)).
    let t = c
        .ok("LIST \"\" (INBOX Sent) RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES SIZE UNSEEN))")
        .await;
    assert!(t.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n* STATUS \"INBOX\" (MESSAGES 1 SIZE 21 UNSEEN 1)\r\n"), "{t}");
    assert!(
        t.contains(
            "\\Sent \\Subscribed) \"/\" \"Sent\"\r\n* STATUS \"Sent\" (MESSAGES 0 SIZE 0 UNSEEN 0)"
        ),
        "{t}"
    );
    assert!(!t.contains("Drafts"), "{t}");

    // Selection SPECIAL-USE lists only the special folders.
    let t = c.ok("LIST (SPECIAL-USE) \"\" \"*\"").await;
    for want in ["\\Sent", "\\Drafts", "\\Junk", "\\Trash", "\\Archive"] {
        assert!(t.contains(want), "{want}: {t}");
    }
    assert!(!t.contains("INBOX") && !t.contains("C&APQ-ng"), "{t}");

    // Selection SUBSCRIBED with RECURSIVEMATCH: the unsubscribed parent comes with CHILDINFO.
    let t = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"").await;
    assert!(
        t.contains("\"C&APQ-ng v&AQM-n\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{t}"
    );
    let t = c.ok("LIST (SUBSCRIBED) \"\" \"*\"").await;
    assert!(
        t.contains("\\Subscribed) \"/\" \"C&APQ-ng v&AQM-n/2026\""),
        "{t}"
    );
    assert!(!t.contains("C&APQ-ng v&AQM-n/C&AWk-\""), "{t}");
    let bad = c.cmd("LIST (RECURSIVEMATCH) \"\" \"*\"").await;
    assert!(
        bad.lines().last().unwrap_or_default().contains(" BAD "),
        "{bad}"
    );
    let bad = c.cmd("LIST \"\" \"*\" RETURN (STATUS (BOGUS))").await;
    assert!(
        bad.lines().last().unwrap_or_default().contains(" BAD "),
        "{bad}"
    );

    // CREATE-SPECIAL-USE: several archives, one Trash, unknown uses refused with USEATTR.
    let no = c.cmd("CREATE \"Thùng rác 2\" (USE (\\Trash))").await;
    assert!(no.contains("NO [USEATTR]"), "{no}");
    let no = c.cmd("CREATE Everything (USE (\\All))").await;
    assert!(no.contains("NO [USEATTR]"), "{no}");
    c.ok("CREATE \"Lưu trữ\" (USE (\\Archive))").await;
    let t = c.ok("LIST \"\" \"L*\"").await;
    assert!(t.contains("\\Archive) \"/\" \"L&AbA-u tr&Hu8-\""), "{t}");

    let st = c.ok("STATUS INBOX (SIZE MESSAGES)").await;
    assert!(st.contains("(SIZE 21 MESSAGES 1)"), "{st}");
}

/// Python imaplib sends LIST … RETURN (STATUS …) and parses the answers.
#[tokio::test]
async fn python_list_status() {
    let server = start(|_| {}, None).await;
    python(
        &server,
        r#"
import imaplib, sys
port = int(sys.argv[1]); password = sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m._encoding = "utf-8"
m.login("an@tinh.gov.vn", password)
m.append("INBOX", None, None, b"Subject: x\r\n\r\ny\r\n")
typ, data = m._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE STATUS (MESSAGES UIDNEXT))")
assert typ == "OK", data
lists = m.untagged_responses.pop("LIST")
statuses = m.untagged_responses.pop("STATUS")
assert len(lists) == 6 and len(statuses) == 6, (lists, statuses)
assert b'"INBOX" (MESSAGES 1 UIDNEXT 2)' in statuses, statuses
typ, data = m._simple_command("CREATE", '"Nh&AOE-p"', "(USE (\\Drafts))")
assert typ == "NO", data
m.logout()
print("ok")
"#,
    )
    .await;
}
