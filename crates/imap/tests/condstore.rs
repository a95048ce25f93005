//! CONDSTORE and QRESYNC (RFC 7162) end to end: ENABLE, SELECT parameters, FETCH MODSEQ and
//! CHANGEDSINCE, STORE UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ,
//! VANISHED (EARLIER) at SELECT and in UID FETCH, VANISHED instead of EXPUNGE, and [CLOSED].

mod common;
use common::*;

/// The number right after `key` in `text` (e.g. `HIGHESTMODSEQ 12`, `MODSEQ (12)`).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("{key} missing in {text}"))
        + key.len();
    text[at..]
        .trim_start_matches([' ', '('])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key} in {text}"))
}

async fn three_messages(c: &mut Client) {
    for n in 1..=3 {
        c.append("INBOX", "", &format!("Subject: m{n}\r\n\r\nbody {n}\r\n"))
            .await;
    }
}

#[tokio::test]
async fn condstore_fetch_store_search_status() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps.contains(" CONDSTORE") && caps.contains(" QRESYNC"),
        "{caps}"
    );
    three_messages(&mut c).await;

    let t = c.ok("ENABLE CONDSTORE").await;
    assert!(t.contains("* ENABLED CONDSTORE\r\n"), "{t}");
    let sel = c.ok("SELECT INBOX (CONDSTORE)").await;
    let highest = number_after(&sel, "[HIGHESTMODSEQ");
    let f = c.ok("FETCH 1:* (MODSEQ)").await;
    assert!(f.contains("* 3 FETCH (MODSEQ ("), "{f}");
    let m1 = number_after(&f, "* 1 FETCH (MODSEQ");

    // A conditional STORE that passes reports the new MODSEQ even when .SILENT.
    let st = c
        .ok(&format!(
            "UID STORE 1 (UNCHANGEDSINCE {m1}) +FLAGS.SILENT (\\Seen)"
        ))
        .await;
    assert!(st.contains("* 1 FETCH (UID 1 MODSEQ ("), "{st}");
    let m1_new = number_after(&st, "MODSEQ");
    assert!(m1_new > highest, "MODSEQ must grow: {m1_new} <= {highest}");
    // The same condition again fails: the message changed since m1.
    let st = c
        .ok(&format!(
            "UID STORE 1 (UNCHANGEDSINCE {m1}) +FLAGS (\\Flagged)"
        ))
        .await;
    assert!(st.contains("OK [MODIFIED 1]"), "{st}");
    assert!(!st.contains("\\Flagged"), "{st}");
    let st = c
        .ok(&format!(
            "STORE 2:3 (UNCHANGEDSINCE {m1_new}) +FLAGS (\\Answered)"
        ))
        .await;
    assert!(
        st.contains("* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ ("),
        "{st}"
    );
    assert!(!st.contains("MODIFIED"), "{st}");

    // CHANGEDSINCE returns only what changed after the given MODSEQ, with MODSEQ.
    let f = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {m1_new})"))
        .await;
    assert!(!f.contains("* 1 FETCH"), "{f}");
    assert!(f.contains("* 2 FETCH (FLAGS (\\Answered) MODSEQ ("), "{f}");
    assert!(f.contains("* 3 FETCH ("), "{f}");
    let f = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m1})"))
        .await;
    assert!(
        f.contains("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ("),
        "{f}"
    );

    let s = c.ok(&format!("SEARCH MODSEQ {}", m1_new + 1)).await;
    assert!(s.contains("* SEARCH 2 3 (MODSEQ "), "{s}");
    let s = c.ok("SEARCH MODSEQ 999999").await;
    assert!(s.contains("* SEARCH\r\n"), "{s}");
    let status = c.ok("STATUS Sent (HIGHESTMODSEQ MESSAGES)").await;
    assert!(status.contains("(HIGHESTMODSEQ "), "{status}");

    // Another session changes flags: ours hears it with MODSEQ.
    let mut other = Client::login(&server, "an").await;
    other.ok("SELECT INBOX").await;
    other.ok("STORE 3 +FLAGS (\\Flagged)").await;
    let n = c.ok("NOOP").await;
    assert!(
        n.contains("* 3 FETCH (UID 3 FLAGS (\\Answered \\Flagged) MODSEQ ("),
        "{n}"
    );
}

#[tokio::test]
async fn qresync_select_vanished_and_closed() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    three_messages(&mut c).await;
    let bad = c.cmd("SELECT INBOX (QRESYNC (1 1))").await;
    assert!(bad.contains(" BAD "), "QRESYNC without ENABLE: {bad}");

    let t = c.ok("ENABLE QRESYNC").await;
    assert!(t.contains("* ENABLED QRESYNC"), "{t}");
    let sel = c.ok("SELECT INBOX").await;
    let uidvalidity = number_after(&sel, "[UIDVALIDITY");
    let highest = number_after(&sel, "[HIGHESTMODSEQ");

    // Elsewhere: message 2 goes away, message 3 gets a flag.
    let mut other = Client::login(&server, "an").await;
    other.ok("SELECT INBOX").await;
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("UID EXPUNGE 2").await;
    other.ok("UID STORE 3 +FLAGS.SILENT (\\Flagged)").await;

    // The QRESYNC session hears VANISHED, not EXPUNGE.
    let n = c.ok("NOOP").await;
    assert!(n.contains("* VANISHED 2\r\n"), "{n}");
    assert!(!n.contains("EXPUNGE"), "{n}");
    assert!(n.contains("FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ("), "{n}");

    // UID FETCH … (CHANGEDSINCE … VANISHED).
    let f = c
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)"
        ))
        .await;
    assert!(f.contains("* VANISHED (EARLIER) 2\r\n"), "{f}");
    assert!(
        f.contains("* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ("),
        "{f}"
    );
    let bad = c
        .cmd(&format!(
            "FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)"
        ))
        .await;
    assert!(bad.contains(" BAD "), "VANISHED needs UID FETCH: {bad}");

    // A new connection resynchronises from what it knew.
    let mut fresh = Client::login(&server, "an").await;
    fresh.ok("ENABLE QRESYNC").await;
    let sel = fresh
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {highest} 1:3))"
        ))
        .await;
    assert!(sel.contains("* VANISHED (EARLIER) 2\r\n"), "{sel}");
    assert!(
        sel.contains("* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ("),
        "{sel}"
    );
    assert!(
        !sel.contains("* 1 FETCH"),
        "message 1 did not change: {sel}"
    );
    // Known UIDs narrow VANISHED; a wrong UIDVALIDITY reports nothing.
    let sel = fresh
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {highest} 3))"
        ))
        .await;
    assert!(sel.contains("* OK [CLOSED]"), "{sel}");
    assert!(!sel.contains("VANISHED"), "{sel}");
    let sel = fresh
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({} {highest}))",
            uidvalidity + 1
        ))
        .await;
    assert!(!sel.contains("VANISHED") && !sel.contains("FETCH"), "{sel}");

    // Own EXPUNGE under QRESYNC is a VANISHED too.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let ex = c.ok("EXPUNGE").await;
    assert!(ex.contains("* VANISHED 1\r\n"), "{ex}");
}

/// Python imaplib as the client: UNCHANGEDSINCE and a QRESYNC SELECT with VANISHED.
#[tokio::test]
async fn python_condstore_qresync() {
    let server = start(|_| {}, None).await;
    python(
        &server,
        r#"
import imaplib, re, sys
port = int(sys.argv[1]); password = sys.argv[2]
def login():
    m = imaplib.IMAP4("127.0.0.1", port)
    m._encoding = "utf-8"
    m.login("an@tinh.gov.vn", password)
    return m
m = login()
for n in range(3):
    m.append("INBOX", None, None, ("Subject: m%d\r\n\r\nbody\r\n" % n).encode())
typ, data = m._simple_command("ENABLE", "CONDSTORE", "QRESYNC")
assert typ == "OK", data
typ, data = m.select("INBOX")
uidvalidity = int(m.untagged_responses["UIDVALIDITY"][-1])
highest = int(m.untagged_responses["HIGHESTMODSEQ"][-1])
typ, data = m.fetch("1", "(MODSEQ)")
m1 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
typ, data = m.uid("STORE", "1", "(UNCHANGEDSINCE %d)" % m1, "+FLAGS", "(\\Seen)")
assert typ == "OK" and b"MODSEQ" in data[0], data
typ, data = m._simple_command("UID", "STORE", "1", "(UNCHANGEDSINCE %d)" % m1, "+FLAGS", "(\\Flagged)")
assert typ == "OK", data
assert data[0].startswith(b"[MODIFIED 1]"), data  # imaplib leaves tagged codes in the text
m.store("2", "+FLAGS", "(\\Deleted)")
m.expunge()
m.logout()

m = login()
typ, data = m._simple_command("ENABLE", "QRESYNC")
assert typ == "OK", data
typ, data = m._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d 1:3))" % (uidvalidity, highest))
assert typ == "OK", data
vanished = m.untagged_responses.get("VANISHED")
assert vanished == [b"(EARLIER) 2"], m.untagged_responses
fetched = m.untagged_responses.get("FETCH")
assert fetched and any(b"UID 1 " in f and b"\\Seen" in f for f in fetched), fetched
m.logout()
print("ok")
"#,
    )
    .await;
}
