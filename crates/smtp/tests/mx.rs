//! The MX against a real server on a loopback port, backed by the real SqliteStore and
//! FsBlobStore. Each test reads like a transcript: `c.cmd("RCPT TO:<…>", "550 5.1.1")` sends
//! one command line and checks the beginning of the reply.

use std::sync::Arc;
use std::time::Duration;

use congvu_core::SpecialUse;
use congvu_pipeline::Pipeline;
use congvu_smtp::{SmtpConfig, SmtpContext, serve};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, AccountState, BlobStore, NewAccount, Store};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "tinh.gov.vn";

struct Server {
    addr: std::net::SocketAddr,
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobStore>,
    shutdown: CancellationToken,
    handle: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(
    configure: impl FnOnce(&mut SmtpConfig),
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let blobs = Arc::new(
        FsBlobStore::open(&dir.path().join("blobs"))
            .await
            .expect("blobs"),
    );
    for (local, kind) in [
        ("an", AccountKind::Person),
        ("binh", AccountKind::Person),
        ("khoa", AccountKind::Person),
        ("treo", AccountKind::Person),
        ("vanthu", AccountKind::Operator),
    ] {
        store
            .create_account(NewAccount {
                address: format!("{local}@{DOMAIN}"),
                display_name: local.to_string(),
                password_hash: "$argon2id$placeholder".to_string(),
                kind,
                created_at: 0,
            })
            .await
            .expect("create account");
    }
    let revoked = store
        .account_by_address(&format!("khoa@{DOMAIN}"))
        .await
        .expect("q")
        .expect("khoa");
    store
        .set_account_state(revoked.id, AccountState::Revoked)
        .await
        .expect("revoke");
    let suspended = store
        .account_by_address(&format!("treo@{DOMAIN}"))
        .await
        .expect("q")
        .expect("treo");
    store
        .set_account_state(suspended.id, AccountState::Suspended)
        .await
        .expect("suspend");

    let mut config = SmtpConfig {
        hostname: "mx.tinh.gov.vn".to_string(),
        hosted_domains: vec![DOMAIN.to_string()],
        ..SmtpConfig::default()
    };
    configure(&mut config);
    let ctx = Arc::new(SmtpContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        tls,
        config,
        limits: Default::default(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(serve(listener, ctx, shutdown.clone()));
    Server {
        addr,
        store,
        blobs,
        shutdown,
        handle,
        _dir: dir,
    }
}

impl Server {
    /// The raw messages in `local`'s folder with this special use.
    async fn messages(&self, local: &str, special: SpecialUse) -> Vec<(String, Vec<u8>)> {
        let account = self
            .store
            .account_by_address(&format!("{local}@{DOMAIN}"))
            .await
            .expect("q")
            .expect("account");
        let folders = self.store.list_folders(account.id).await.expect("folders");
        let folder = folders
            .iter()
            .find(|f| f.special_use == Some(special))
            .expect("folder");
        let uids: Vec<u32> = self
            .store
            .list_messages(folder.id)
            .await
            .expect("list")
            .iter()
            .map(|m| m.uid)
            .collect();
        let mut out = Vec::new();
        for record in self
            .store
            .fetch_records(folder.id, &uids)
            .await
            .expect("fetch")
        {
            let data = self.blobs.get(&record.blob).await.expect("blob");
            out.push((record.blob.0.clone(), data.to_vec()));
        }
        out
    }

    async fn inbox(&self, local: &str) -> Vec<(String, Vec<u8>)> {
        self.messages(local, SpecialUse::Inbox).await
    }
}

struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads one (possibly multi-line) reply and returns it whole.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(n > 0, "connection closed; got so far: {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let reply = self.reply().await;
        assert!(
            reply.starts_with(prefix),
            "expected {prefix:?}, got {reply:?}"
        );
        reply
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    /// C: `line` / S: a reply starting with `prefix`.
    async fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }

    async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

async fn connect(server: &Server) -> Client<TcpStream> {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut c = Client {
        io: BufReader::new(stream),
    };
    c.expect("220 mx.tinh.gov.vn").await;
    c
}

#[tokio::test]
async fn recipients_are_checked_at_rcpt() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "503 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org>", "503 5.5.1").await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<a@example.org>", "250 2.1.0").await;
    c.cmd(
        "RCPT TO:<nobody@tinh.gov.vn>",
        "550 5.1.1 <nobody@tinh.gov.vn>: no such mailbox here",
    )
    .await;
    c.cmd("RCPT TO:<victim@example.com>", "550 5.7.1 Relaying denied")
        .await;
    c.cmd("RCPT TO:<khoa@tinh.gov.vn>", "550 5.2.1").await;
    c.cmd("RCPT TO:<treo@TINH.GOV.VN>", "250 2.1.5").await;
    c.cmd("RCPT TO:<Postmaster@tinh.gov.vn>", "250 2.1.5").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: hello\r\n\r\nto the postmaster\r\n.\r\n")
        .await;
    c.expect("250 2.0.0 Ok: queued as ").await;
    c.cmd("QUIT", "221").await;
    assert_eq!(
        s.inbox("treo").await.len(),
        1,
        "a suspended mailbox still receives"
    );
    assert_eq!(
        s.inbox("vanthu").await.len(),
        1,
        "postmaster reaches the operator"
    );
}

#[tokio::test]
async fn bare_lf_smuggling_creates_no_second_message() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(
        b"Subject: one\r\n\r\nfirst\r\n\n.\nMAIL FROM:<ceo@tinh.gov.vn>\r\nRCPT TO:<an@tinh.gov.vn>\r\nDATA\r\n\
          Subject: smuggled\r\n\r\nsecond\r\n.\r\n",
    )
    .await;
    c.expect("550 5.6.2").await;
    // In step: the next command is answered as a command.
    c.cmd("NOOP", "250").await;
    c.cmd("QUIT", "221").await;
    assert!(s.inbox("an").await.is_empty());
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    for keyword in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(ehlo.contains(keyword), "{keyword} missing from {ehlo:?}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured");
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<an@tinh.gov.vn>\r\nRCPT TO:<x@tinh.gov.vn>\r\nDATA\r\n").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("550 5.1.1").await;
    c.expect("354").await;
    c.send(b"Subject: p\r\n\r\n..dotted\r\n.\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<an@tinh.gov.vn>\r\nDATA\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send(b"Subject: q\r\n\r\nsecond\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("221").await;
    let inbox = s.inbox("an").await;
    assert_eq!(inbox.len(), 2);
    let first = String::from_utf8_lossy(&inbox[0].1).to_string();
    assert!(
        first.ends_with("Subject: p\r\n\r\n.dotted\r\n"),
        "{first:?}"
    );
}

#[tokio::test]
async fn bdat_chunks_make_one_message() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.send(b"BDAT 5\r\nhello").await;
    c.expect("503 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    let part1 = b"Subject: chunked\r\n\r\n.line with dot\r\n";
    let part2 = b"end\n.\nnot a terminator\r\n";
    c.send(format!("BDAT {}\r\n", part1.len()).as_bytes()).await;
    c.send(part1).await;
    c.expect("250 2.0.0").await;
    c.send(format!("BDAT {} LAST\r\n", part2.len()).as_bytes())
        .await;
    c.send(part2).await;
    c.expect("250 2.0.0 Ok: queued as").await;
    c.cmd("QUIT", "221").await;
    let inbox = s.inbox("an").await;
    assert_eq!(inbox.len(), 1);
    let mut body = part1.to_vec();
    body.extend_from_slice(part2);
    assert!(inbox[0].1.ends_with(&body), "BDAT data is stored verbatim");
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_session_stays_in_step() {
    let s = start(|c| c.max_message_size = 64 * 1024, None).await;
    let mut c = connect(&s).await;
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    assert!(ehlo.contains("SIZE 65536"));
    c.cmd("MAIL FROM:<a@example.org> SIZE=100000", "552 5.3.4")
        .await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    let line = format!("{}\r\n", "x".repeat(998));
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        big.extend_from_slice(line.as_bytes());
    }
    big.extend_from_slice(b".\r\n");
    c.send(&big).await;
    c.expect("552 5.3.4").await;
    c.cmd("NOOP", "250").await;
    // A command line above 4 KiB.
    c.cmd(&format!("NOOP {}", "y".repeat(5000)), "500 5.5.2")
        .await;
    c.cmd("NOOP", "250").await;
    assert!(s.inbox("an").await.is_empty());
}

#[tokio::test]
async fn two_recipients_share_one_blob_and_trace_headers() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("RCPT TO:<binh@tinh.gov.vn>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: both\r\n\r\nhi\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd("RCPT TO:<binh@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: one\r\n\r\nhi\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.cmd("QUIT", "221").await;

    let an = s.inbox("an").await;
    let binh = s.inbox("binh").await;
    assert_eq!(an.len(), 1, "a duplicate recipient is delivered once");
    assert_eq!(binh.len(), 2);
    assert_eq!(an[0].0, binh[0].0, "one blob for both recipients");
    let text = String::from_utf8_lossy(&an[0].1).to_string();
    assert!(
        text.starts_with(
            "Return-Path: <sender@example.org>\r\nReceived: from client.example.org (unknown [127.0.0.1])\r\n\tby mx.tinh.gov.vn with ESMTP id "
        ),
        "{text:?}"
    );
    assert!(
        !text.contains("for <"),
        "no `for` with two recipients: {text:?}"
    );
    assert!(text.ends_with("\r\n\r\nhi\r\n"));
    let single = String::from_utf8_lossy(&binh[1].1).to_string();
    assert!(
        single.contains("\tfor <binh@tinh.gov.vn>;\r\n"),
        "{single:?}"
    );
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let s = start(|c| c.max_errors = 3, None).await;
    let mut c = connect(&s).await;
    c.cmd("BOGUS", "500 5.5.1").await;
    c.cmd("BOGUS", "500 5.5.1").await;
    c.send(b"BOGUS\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("500 5.5.1"), "{reply:?}");
    c.expect("421 4.7.0").await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn idle_clients_are_disconnected() {
    let s = start(|c| c.idle_timeout = Duration::from_millis(300), None).await;
    let mut c = connect(&s).await;
    c.expect("421 4.4.2").await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn shutdown_finishes_the_message_in_flight() {
    let s = start(|_| {}, None).await;
    let mut c = connect(&s).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: late\r\n\r\nstill ").await;
    s.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(b"coming\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("421 4.3.2").await;
    assert!(c.closed().await);
    assert_eq!(s.inbox("an").await.len(), 1);
    let result = tokio::time::timeout(Duration::from_secs(12), s.handle)
        .await
        .expect("serve returns");
    assert!(result.expect("join").is_ok());
}

#[tokio::test]
async fn starttls_discards_commands_pipelined_before_the_handshake() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_der = certified.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
    );
    let server_config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");
    let s = start(|_| {}, Some(Arc::new(server_config))).await;

    let mut c = connect(&s).await;
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    assert!(ehlo.contains("STARTTLS"));
    // Injection attempt (CVE-2011-0411 class): a command pipelined after STARTTLS.
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        .await;
    c.expect("220 2.0.0").await;
    assert!(
        c.io.buffer().is_empty(),
        "nothing after the 220 in plain text"
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).expect("root");
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector
        .connect(name, c.io.into_inner())
        .await
        .expect("handshake");
    let mut c = Client {
        io: BufReader::new(tls),
    };
    // The session starts again from before EHLO and the injected MAIL was dropped.
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "503 5.5.1").await;
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    assert!(!ehlo.contains("STARTTLS"), "not offered again inside TLS");
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "503 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: secret\r\n\r\nover tls\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.cmd("QUIT", "221").await;
    let inbox = s.inbox("an").await;
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0].1).contains(" with ESMTPS id "));
}
