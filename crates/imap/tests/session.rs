//! The IMAP server on a loopback port, backed by the real SqliteStore and FsBlobStore, driven
//! by a raw TCP client. Each test reads like a transcript: `c.ok("SELECT INBOX")` sends one
//! tagged command and returns everything up to its tagged reply, which must be OK.

mod common;
use common::*;

use std::sync::Arc;
use std::time::Duration;

use congvu_imap::TlsMode;
use congvu_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
const MSG: &str = "From: Nguyễn Văn An <an@tinh.gov.vn>\r\nTo: binh@tinh.gov.vn\r\nSubject: =?UTF-8?Q?K=E1=BA=BF_ho=E1=BA=A1ch?= 2026\r\nDate: Thu, 01 Jan 2026 08:00:00 +0700\r\nMessage-ID: <k1@tinh.gov.vn>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKế hoạch năm 2026 của Sở.\r\n--b\r\nContent-Type: application/pdf; name=\"cv.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

#[tokio::test]
async fn login_list_append_fetch_search_store_copy_move_expunge() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    let list = c.ok("LIST \"\" \"*\"").await;
    for want in [
        "\\Sent",
        "\\Drafts",
        "\\Junk",
        "\\Trash",
        "\\Archive",
        "\"INBOX\"",
    ] {
        assert!(list.contains(want), "{want} missing in {list}");
    }
    assert!(list.contains("\\HasNoChildren"), "{list}");

    c.append("INBOX", "\\Flagged", MSG).await;
    c.append("INBOX", "", "Subject: second\r\n\r\nplain body\r\n")
        .await;
    let sel = c.ok("SELECT INBOX").await;
    assert!(sel.contains("* 2 EXISTS"), "{sel}");
    assert!(sel.contains("[UIDVALIDITY "), "{sel}");
    assert!(sel.contains("[UIDNEXT 3]"), "{sel}");
    assert!(sel.contains("[PERMANENTFLAGS ("), "{sel}");
    assert!(sel.contains("[HIGHESTMODSEQ "), "{sel}");
    assert!(sel.contains("OK [READ-WRITE]"), "{sel}");

    // An APPEND to the selected folder is reported before the tagged OK.
    let t = c
        .append("INBOX", "\\Deleted", "Subject: third\r\n\r\nx\r\n")
        .await;
    assert!(t.contains("* 3 EXISTS\r\n"), "{t}");
    let t = c.ok("UID EXPUNGE 3").await;
    assert!(t.contains("* 3 EXPUNGE\r\n"), "{t}");
    let bad = c.cmd("SEARCH CHARSET KOI8-R ALL").await;
    assert!(bad.contains("NO [BADCHARSET"), "{bad}");
    let empty = c.ok("STATUS Drafts (MESSAGES)").await;
    assert!(empty.contains("(MESSAGES 0)"), "{empty}");

    let f = c
        .ok("FETCH 1 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(
        f.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged) RFC822.SIZE "),
        "{f}"
    );
    assert!(f.contains("BODY[HEADER.FIELDS (SUBJECT)] {"), "{f}");
    assert!(
        f.contains("Subject: =?UTF-8?Q?K=E1=BA=BF_ho=E1=BA=A1ch?= 2026\r\n\r\n)"),
        "{f}"
    );
    assert!(!f.contains("\\Seen"), "PEEK must not set \\Seen: {f}");

    let f = c.ok("FETCH 1 (BODYSTRUCTURE ENVELOPE)").await;
    assert!(f.contains("\"mixed\""), "{f}");
    assert!(
        f.contains("(\"text\" \"plain\" (\"charset\" \"utf-8\")"),
        "{f}"
    );
    assert!(f.contains("\"application\" \"pdf\""), "{f}");
    assert!(f.contains("\"<k1@tinh.gov.vn>\""), "{f}");
    assert!(f.contains("\"an\" \"tinh.gov.vn\""), "{f}");

    let f = c.ok("FETCH 1 BODY[1]").await;
    assert!(f.contains("BODY[1] {"), "{f}");
    assert!(f.contains("Kế hoạch năm 2026 của Sở."), "{f}");
    assert!(
        f.contains("FLAGS (\\Seen \\Flagged)"),
        "BODY[] sets \\Seen: {f}"
    );
    let f = c
        .ok("FETCH 1 (BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<0.4>)")
        .await;
    assert!(f.contains("BODY[2.MIME] {"), "{f}");
    assert!(f.contains("Content-Type: application/pdf"), "{f}");
    assert!(f.contains("BODY[TEXT]<0> {4}\r\n--b\r"), "{f}");

    let s = c.ok("SEARCH UNSEEN").await;
    assert!(s.contains("* SEARCH 2\r\n"), "{s}");
    let s = c.ok("UID SEARCH SUBJECT \"second\"").await;
    assert!(s.contains("* SEARCH 2\r\n"), "{s}");
    let s = c.ok("SEARCH OR FLAGGED LARGER 100000").await;
    assert!(s.contains("* SEARCH 1\r\n"), "{s}");
    let s = c.ok("SEARCH NOT SEEN SENTBEFORE 1-Jan-2000").await;
    assert!(s.contains("* SEARCH\r\n"), "{s}");
    let s = c.ok("SEARCH HEADER Message-ID k1@tinh").await;
    assert!(s.contains("* SEARCH 1\r\n"), "{s}");

    let st = c.ok("STORE 2 +FLAGS ($Work \\Answered)").await;
    assert!(st.contains("* 2 FETCH (FLAGS (\\Answered $Work))"), "{st}");
    let st = c.ok("UID STORE 2 -FLAGS.SILENT ($Work)").await;
    assert!(!st.contains("FETCH"), "{st}");

    let cp = c.ok("COPY 1:2 Archive").await;
    assert!(cp.contains("OK [COPYUID "), "{cp}");
    let status = c.ok("STATUS Archive (MESSAGES UIDNEXT UNSEEN)").await;
    assert!(
        status.contains("* STATUS \"Archive\" (MESSAGES 2 UIDNEXT 3 UNSEEN 1)"),
        "{status}"
    );
    let mv = c.ok("UID MOVE 2 Trash").await;
    assert!(mv.contains("* OK [COPYUID "), "{mv}");
    assert!(mv.contains("* 2 EXPUNGE"), "{mv}");
    let no = c.cmd("COPY 1 \"No such\"").await;
    assert!(no.contains("NO [TRYCREATE]"), "{no}");

    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let ex = c.ok("EXPUNGE").await;
    assert!(ex.contains("* 1 EXPUNGE"), "{ex}");
    let bad = c.cmd("FETCH 1 FLAGS").await;
    assert!(bad.contains(" BAD "), "{bad}");
    let bye = c.ok("LOGOUT").await;
    assert!(bye.contains("* BYE"), "{bye}");
}

#[tokio::test]
async fn unicode_folders_in_modified_utf7_and_utf8() {
    let server = start(|_| {}, None).await;
    let mut c = Client::login(&server, "an").await;
    c.ok("CREATE \"C&APQ-ng v&AQM-n/2026\"").await;
    let again = c.cmd("CREATE \"C&APQ-ng v&AQM-n/2026\"").await;
    assert!(again.contains("NO [ALREADYEXISTS]"), "{again}");
    let an = server
        .store
        .account_by_address("an@tinh.gov.vn")
        .await
        .expect("q")
        .expect("an");
    assert!(
        server
            .store
            .folder_by_name(an.id, "Công văn/2026")
            .await
            .expect("q")
            .is_some()
    );
    let list = c.ok("LIST \"\" \"C*\"").await;
    assert!(list.contains("\"C&APQ-ng v&AQM-n/2026\""), "{list}");
    let target = congvu_wire::imap_utf7::encode("Lưu trữ");
    c.ok(&format!("RENAME \"C&APQ-ng v&AQM-n/2026\" \"{target}\""))
        .await;
    assert!(
        server
            .store
            .folder_by_name(an.id, "Lưu trữ")
            .await
            .expect("q")
            .is_some()
    );
    let e = c.ok("ENABLE UTF8=ACCEPT").await;
    assert!(e.contains("* ENABLED UTF8=ACCEPT"), "{e}");
    let list = c.ok("LIST \"\" \"%\"").await;
    assert!(list.contains("\"Lưu trữ\""), "{list}");
    c.ok("SUBSCRIBE \"Lưu trữ\"").await;
    let lsub = c.ok("LSUB \"\" \"L*\"").await;
    assert!(lsub.contains("* LSUB"), "{lsub}");
    c.ok("DELETE \"Lưu trữ\"").await;
    let no = c.cmd("DELETE INBOX").await;
    assert!(no.contains(" NO "), "{no}");
    let bad = c.cmd("CREATE \"a&-bad\"").await;
    assert!(bad.contains(" OK "), "UTF8 mode takes & literally: {bad}");
}

#[tokio::test]
async fn authentication_rules() {
    let server = start(|_| {}, None).await;
    let (mut c, _) = Client::connect(&server).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps.contains("AUTH=PLAIN") && caps.contains("SASL-IR"),
        "{caps}"
    );
    let no = c.cmd("LOGIN an@tinh.gov.vn wrong").await;
    assert!(no.contains("NO [AUTHENTICATIONFAILED]"), "{no}");
    let bad = c.cmd("SELECT INBOX").await;
    assert!(bad.contains(" BAD "), "{bad}");
    let no = c
        .cmd(&format!("LOGIN treo@tinh.gov.vn \"{PASSWORD}\""))
        .await;
    assert!(no.contains(" NO [") && no.contains("suspended"), "{no}");
    // Third failure closes the connection.
    let no = c.cmd("LOGIN nobody@tinh.gov.vn x").await;
    assert!(no.contains("* BYE"), "{no}");

    // AUTHENTICATE PLAIN with SASL-IR: "\0An@Tinh.gov.vn\0password", upper case login.
    let (mut c, _) = Client::connect(&server).await;
    let ir = base64(&format!("\0An@Tinh.gov.vn\0{PASSWORD}"));
    let ok = c.ok(&format!("AUTHENTICATE PLAIN {ir}")).await;
    assert!(ok.contains("OK [CAPABILITY IMAP4rev1"), "{ok}");
    // AUTHENTICATE with a continuation.
    let (mut c, _) = Client::connect(&server).await;
    c.send("a AUTHENTICATE PLAIN\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&format!(
        "{}\r\n",
        base64(&format!("\0binh@tinh.gov.vn\0{PASSWORD}"))
    ))
    .await;
    let ok = c.until("a").await;
    assert!(ok.contains("a OK"), "{ok}");
}

#[tokio::test]
async fn no_large_literal_before_login() {
    let server = start(|_| {}, None).await;
    let (mut c, _) = Client::connect(&server).await;
    c.send("a APPEND INBOX {100000}\r\n").await;
    let bad = c.line().await;
    assert!(bad.starts_with("a BAD"), "{bad}");
    c.send("b LOGIN {14}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send("an@tinh.gov.vn xxxxx\r\n").await;
    let no = c.until("b").await;
    assert!(no.contains("b NO [AUTHENTICATIONFAILED]"), "{no}");
}

#[tokio::test]
async fn plaintext_login_refused_without_tls() {
    let server = start(|c| c.allow_plaintext_auth_on_loopback = false, None).await;
    let (mut c, greeting) = Client::connect(&server).await;
    assert!(greeting.contains("LOGINDISABLED"), "{greeting}");
    let no = c.cmd(&format!("LOGIN an@tinh.gov.vn \"{PASSWORD}\"")).await;
    assert!(no.contains("NO [PRIVACYREQUIRED]"), "{no}");
}

/// A self-signed server configuration and the client configuration that trusts it.
fn tls_pair() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("tls config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, client)
}

#[tokio::test]
async fn implicit_tls_login() {
    let (server_cfg, client_cfg) = tls_pair();
    let server = start_mode(
        |c| c.allow_plaintext_auth_on_loopback = false,
        Some(Arc::new(server_cfg)),
        TlsMode::Implicit,
    )
    .await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let mut r = BufReader::new(tls);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("greeting");
    assert!(line.starts_with("* OK [CAPABILITY IMAP4rev1"), "{line}");
    assert!(
        line.contains("AUTH=PLAIN") && !line.contains("STARTTLS"),
        "{line}"
    );
    r.get_mut()
        .write_all(format!("l LOGIN an@tinh.gov.vn \"{PASSWORD}\"\r\n").as_bytes())
        .await
        .expect("w");
    let mut line = String::new();
    r.read_line(&mut line).await.expect("read");
    assert!(line.starts_with("l OK [CAPABILITY"), "{line}");
}

#[tokio::test]
async fn starttls_then_login() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("tls config");
    let server = start(
        |c| c.allow_plaintext_auth_on_loopback = false,
        Some(Arc::new(tls)),
    )
    .await;
    let (mut c, greeting) = Client::connect(&server).await;
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    // A command pipelined after STARTTLS must be discarded (RFC 9051 §6.2.1).
    c.send("s STARTTLS\r\nx NOOP\r\n").await;
    let ok = c.until("s").await;
    assert!(ok.contains("s OK"), "{ok}");
    // Drive the TLS side with tokio-rustls as a client.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let client_cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let tcp = c.r.into_inner();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let mut r = BufReader::new(tls);
    r.get_mut()
        .write_all(format!("l LOGIN an@tinh.gov.vn \"{PASSWORD}\"\r\n").as_bytes())
        .await
        .expect("w");
    let mut line = String::new();
    r.read_line(&mut line).await.expect("read");
    assert!(
        line.starts_with("l OK [CAPABILITY"),
        "the pipelined NOOP must not be answered: {line}"
    );
}

#[tokio::test]
async fn literal_limits() {
    let server = start(|c| c.max_literal = 100, None).await;
    let mut c = Client::login(&server, "an").await;
    c.send("a APPEND INBOX {1000}\r\n").await;
    let no = c.line().await;
    assert!(no.starts_with("a NO [TOOBIG]"), "{no}");
    let caps = c.ok("CAPABILITY").await;
    assert!(caps.contains("APPENDLIMIT=100"), "{caps}");
    // LITERAL+ within the limit needs no continuation.
    c.send("b APPEND INBOX {12+}\r\nSubject: x\r\n\r\n").await;
    let ok = c.until("b").await;
    assert!(ok.contains("b OK [APPENDUID"), "{ok}");
    // A huge literal on another command is refused before it is read.
    c.send("c LOGIN {5000000}\r\n").await;
    let bad = c.line().await;
    assert!(bad.starts_with("c BAD"), "{bad}");
    c.send("\u{0}\u{7f} garbage\r\n").await;
    let bad = c.line().await;
    assert!(bad.starts_with("* BAD"), "{bad}");
    let bad = c.cmd("FROB").await;
    assert!(bad.contains(" BAD "), "{bad}");
    c.ok("NOOP").await;
}

#[tokio::test]
async fn idle_reports_new_messages_and_shutdown_says_bye() {
    let server = start(|_| {}, None).await;
    let mut a = Client::login(&server, "an").await;
    a.ok("SELECT INBOX").await;
    a.send("i IDLE\r\n").await;
    assert!(a.line().await.starts_with("+ "));
    let mut b = Client::login(&server, "an").await;
    b.append("INBOX", "", "Subject: pushed\r\n\r\nhi\r\n").await;
    let exists = a.line().await;
    assert_eq!(exists, "* 1 EXISTS\r\n");
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS (\\Seen)").await;
    let flags = a.line().await;
    assert!(
        flags.starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen))"),
        "{flags}"
    );
    a.send("DONE\r\n").await;
    let done = a.until("i").await;
    assert!(done.contains("i OK"), "{done}");
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let noop = a.ok("NOOP").await;
    assert!(noop.contains("* 1 EXPUNGE"), "{noop}");

    a.send("j IDLE\r\n").await;
    assert!(a.line().await.starts_with("+ "));
    server.shutdown.cancel();
    let bye = a.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    let bye = b.line().await;
    assert!(bye.starts_with("* BYE server shutting down"), "{bye}");
    let joined = tokio::time::timeout(Duration::from_secs(12), server.handle)
        .await
        .expect("serve returns");
    assert!(joined.expect("join").is_ok());
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

/// A real client: Python's imaplib parses every response we send in a typical session.
#[tokio::test]
async fn python_imaplib_session() {
    let server = start(|_| {}, None).await;
    let script = r#"
import imaplib, sys
port = int(sys.argv[1]); password = sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m._encoding = "utf-8"  # the password has diacritics
m.login("an@tinh.gov.vn", password)
typ, data = m.list()
assert typ == "OK" and any(b"\\Sent" in d for d in data), data
msg = "From: a@tinh.gov.vn\r\nSubject: Th\u01b0 m\u1edbi\r\n\r\nN\u1ed9i dung\r\n".encode("utf-8")
typ, data = m.append("INBOX", "(\\Flagged)", None, msg)
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = m.select("Sent", readonly=True)
assert typ == "OK" and data[0] == b"0", data
typ, data = m.fetch("1:*", "(FLAGS)")
assert typ == "OK", data
typ, data = m.select("INBOX")
assert typ == "OK" and data[0] == b"1", data
typ, data = m.uid("FETCH", "1", "(FLAGS BODY.PEEK[] BODYSTRUCTURE ENVELOPE)")
assert typ == "OK" and data[0][1] == msg, data
typ, data = m.search(None, "FLAGGED", "UNSEEN")
assert data == [b"1"], data
typ, data = m.store("1", "+FLAGS", "(\\Seen)")
assert typ == "OK" and b"\\Seen" in data[0], data
typ, data = m.create('"C&APQ-ng v&AQM-n"')
assert typ == "OK", data
typ, data = m.uid("MOVE", "1", '"C&APQ-ng v&AQM-n"')
assert typ == "OK", data
typ, data = m.status('"C&APQ-ng v&AQM-n"', "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data
m.logout()
print("ok")
"#;
    let port = server.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &port, PASSWORD])
            .output()
    })
    .await
    .expect("join")
    .expect("python3 must be installed to run this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "stdout: {stdout}\nstderr: {stderr}"
    );
}
