//! Unit mailboxes shared with keepers (issue 3 §2) and ACL (RFC 4314): the keeper sees the
//! unit's folders under "Shared/<unit>/", works in them with the granted rights, and reads
//! and changes grants when holding `a`; others see nothing. Each keeper's \Seen is their own.

mod common;
use common::*;

use congvu_store::{AccountKind, NewAccount, Store};

const UNIT: &str = "vanthu@tinh.gov.vn";

async fn unit_granted_to_an(server: &Server) {
    let unit = server
        .store
        .create_account(NewAccount {
            address: UNIT.into(),
            display_name: "Văn thư Sở".into(),
            password_hash: String::new(),
            kind: AccountKind::Unit,
            created_at: 0,
        })
        .await
        .expect("unit");
    let an = server
        .store
        .account_by_address("an@tinh.gov.vn")
        .await
        .expect("q")
        .expect("an");
    server
        .store
        .set_grant(unit.id, an.id, "lrswipkxtea")
        .await
        .expect("grant");
}

/// The flags stored on the unit's message itself.
async fn unit_flags(server: &Server) -> Vec<String> {
    let unit = server
        .store
        .account_by_address(UNIT)
        .await
        .expect("q")
        .expect("unit");
    let inbox = server
        .store
        .folder_by_name(unit.id, "INBOX")
        .await
        .expect("q")
        .expect("inbox");
    let messages = server.store.list_messages(inbox.id).await.expect("list");
    messages[0].flags.names()
}

#[tokio::test]
async fn keeper_works_in_shared_unit_mailbox() {
    let server = start(|_| {}, None).await;
    unit_granted_to_an(&server).await;
    let inbox = format!("\"Shared/{UNIT}/INBOX\"");

    // Before any grant, binh sees nothing of the unit, and cannot tell it exists.
    let mut binh = Client::login(&server, "binh").await;
    let no = binh.cmd(&format!("SELECT {inbox}")).await;
    assert!(no.contains("NO [NONEXISTENT]"), "{no}");
    let l = binh.ok("LIST \"\" \"*\"").await;
    assert!(!l.contains("Shared"), "{l}");

    let mut an = Client::login(&server, "an").await;
    let caps = an.ok("CAPABILITY").await;
    assert!(
        caps.contains(" ACL") && caps.contains("RIGHTS=kxte"),
        "{caps}"
    );
    let ns = an.ok("NAMESPACE").await;
    assert!(
        ns.contains("* NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))"),
        "{ns}"
    );
    let l = an.ok("LIST \"\" \"Shared/%/%\"").await;
    assert!(l.contains(&format!("\"Shared/{UNIT}/INBOX\"")), "{l}");
    assert!(l.contains(&format!("\"Shared/{UNIT}/Sent\"")), "{l}");
    assert!(
        !l.contains("\\Sent"),
        "no special use on shared folders: {l}"
    );
    let l = an.ok("LIST \"\" \"%\"").await;
    assert!(
        l.contains("(\\Noselect \\HasChildren) \"/\" \"Shared\""),
        "{l}"
    );

    an.append(
        &inbox,
        "",
        "Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_=C4=91=E1=BA=BFn?=\r\n\r\nso 12\r\n",
    )
    .await;
    let st = an.ok(&format!("STATUS {inbox} (MESSAGES UNSEEN)")).await;
    assert!(
        st.contains(&format!("* STATUS {inbox} (MESSAGES 1 UNSEEN 1)")),
        "{st}"
    );
    let sel = an.ok(&format!("SELECT {inbox}")).await;
    assert!(sel.contains("[READ-WRITE]"), "{sel}");
    let st = an.ok("STORE 1 +FLAGS (\\Seen $Done $Old)").await;
    assert!(st.contains("* 1 FETCH (FLAGS (\\Seen $Done $Old))"), "{st}");
    // A replacement keeps the keeper's \Seen apart too.
    let st = an.ok("STORE 1 FLAGS (\\Seen $Done)").await;
    assert!(st.contains("* 1 FETCH (FLAGS (\\Seen $Done))"), "{st}");
    let st = an.ok(&format!("STATUS {inbox} (UNSEEN)")).await;
    assert!(st.contains("(UNSEEN 0)"), "{st}");
    // The keeper's \Seen is theirs: the message itself (the unit's view) stays unseen.
    assert_eq!(unit_flags(&server).await, vec!["$Done".to_string()]);
    let q = an.ok(&format!("GETQUOTAROOT {inbox}")).await;
    assert!(q.contains(&format!("* QUOTAROOT {inbox}\r\n")), "{q}");
    let r = an.ok(&format!("MYRIGHTS {inbox}")).await;
    assert!(
        r.contains(&format!("* MYRIGHTS {inbox} lrswipkxtea")),
        "{r}"
    );
    let no = an.cmd(&format!("CREATE \"Shared/{UNIT}/New\"")).await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
    let no = an.cmd("SETACL INBOX binh@tinh.gov.vn lr").await;
    assert!(no.contains("NO [NOPERM]"), "personal mailbox: {no}");

    // The keeper with `a` lets binh read.
    an.ok(&format!("SETACL {inbox} binh@tinh.gov.vn lr")).await;
    let acl = an.ok(&format!("GETACL {inbox}")).await;
    assert!(
        acl.contains(&format!("* ACL {inbox} \"{UNIT}\" lrswipkxtea \"an@tinh.gov.vn\" lrswipkxtea \"binh@tinh.gov.vn\" lr")),
        "{acl}"
    );
    an.ok(&format!("SETACL {inbox} binh@tinh.gov.vn +s")).await;
    let lr = an.ok(&format!("LISTRIGHTS {inbox} binh@tinh.gov.vn")).await;
    assert!(lr.contains("\"\" l r s w i p k x t e a"), "{lr}");

    // binh now reads, may mark \Seen (s), but nothing else.
    let sel = binh.ok(&format!("SELECT {inbox}")).await;
    assert!(sel.contains("* 1 EXISTS"), "{sel}");
    let r = binh.ok(&format!("MYRIGHTS {inbox}")).await;
    assert!(r.contains(" lrs\r\n"), "{r}");
    let f = binh.ok("FETCH 1 (FLAGS BODY.PEEK[TEXT])").await;
    assert!(f.contains("FLAGS ($Done)") && f.contains("so 12"), "{f}");
    let s = binh.ok("SEARCH UNSEEN").await;
    assert!(s.contains("* SEARCH 1\r\n"), "{s}");
    let f = binh.ok("FETCH 1 BODY[TEXT]").await;
    assert!(
        f.contains("FLAGS (\\Seen $Done)"),
        "reading marks binh's own \\Seen: {f}"
    );
    let st = binh.ok(&format!("STATUS {inbox} (UNSEEN)")).await;
    assert!(st.contains("(UNSEEN 0)"), "{st}");
    assert_eq!(unit_flags(&server).await, vec!["$Done".to_string()]);
    let no = binh.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
    let st = binh.ok("STORE 1 -FLAGS (\\Seen)").await;
    assert!(st.contains("* 1 FETCH (FLAGS ($Done))"), "{st}");
    let f = an.ok("FETCH 1 (FLAGS)").await;
    assert!(
        f.contains("FLAGS (\\Seen $Done)"),
        "an's \\Seen is not binh's: {f}"
    );
    let no = binh.cmd("EXPUNGE").await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
    let no = binh.cmd("MOVE 1 INBOX").await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
    binh.ok("COPY 1 INBOX").await; // reading out is allowed
    let no = binh.cmd(&format!("GETACL {inbox}")).await;
    assert!(no.contains("NO [NOPERM]"), "{no}");
    binh.ok("UNSELECT").await;
    let no = binh.cmd(&format!("APPEND {inbox} {{3+}}\r\nx\r\n")).await;
    assert!(no.contains("NO [NOPERM]"), "{no}");

    an.ok(&format!("DELETEACL {inbox} binh@tinh.gov.vn")).await;
    let no = binh.cmd(&format!("EXAMINE {inbox}")).await;
    assert!(no.contains("NO [NONEXISTENT]"), "{no}");
}

/// Python imaplib as the keeper's client.
#[tokio::test]
async fn python_keeper_session() {
    let server = start(|_| {}, None).await;
    unit_granted_to_an(&server).await;
    python(
        &server,
        r#"
import imaplib, sys
port = int(sys.argv[1]); password = sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m._encoding = "utf-8"
m.login("an@tinh.gov.vn", password)
typ, data = m.namespace()
assert typ == "OK" and b'(("Shared/" "/"))' in data[0], data
box = '"Shared/vanthu@tinh.gov.vn/INBOX"'
typ, data = m.append(box, "", None, b"Subject: hi\r\n\r\nbody\r\n")
assert typ == "OK", data
typ, data = m.myrights(box)
assert typ == "OK" and data[0].endswith(b"lrswipkxtea"), data
typ, data = m.getacl(box)
assert typ == "OK" and b"an@tinh.gov.vn" in data[0], data
typ, data = m.select(box)
assert typ == "OK" and data[0] == b"1", data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"Subject: hi" in data[0][1], data
m.logout()
print("ok")
"#,
    )
    .await;
}
