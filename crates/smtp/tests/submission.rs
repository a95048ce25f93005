//! Submission (ports 587 with STARTTLS and 465 with implicit TLS) against a real server on
//! loopback, backed by the real SqliteStore and FsBlobStore. Transcript tests speak SMTP by
//! hand (`c.cmd("MAIL FROM:<…>", "550 5.7.1")` sends one line and checks the start of the
//! reply); the client tests run Python's smtplib and swaks against the same server.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use congvu_core::SpecialUse;
use congvu_core::password::hash_password;
use congvu_pipeline::Pipeline;
use congvu_smtp::{SmtpConfig, SmtpContext, serve_submission};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, AccountState, BlobStore, NewAccount, Store};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "tinh.gov.vn";
const PASSWORD: &str = "Mật-khẩu-1";

struct Server {
    /// Port 587 role: plain, STARTTLS.
    starttls: std::net::SocketAddr,
    /// Port 465 role: implicit TLS.
    implicit: std::net::SocketAddr,
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobStore>,
    cert_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    shutdown: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(configure: impl FnOnce(&mut SmtpConfig)) -> Server {
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
    let hash = hash_password(PASSWORD, &[9u8; 16]).expect("hash");
    for (local, kind) in [
        ("an", AccountKind::Person),
        ("binh", AccountKind::Person),
        ("treo", AccountKind::Person),
        ("khoa", AccountKind::Person),
        ("vanphong", AccountKind::Unit),
        ("dong", AccountKind::Unit),
    ] {
        store
            .create_account(NewAccount {
                address: format!("{local}@{DOMAIN}"),
                display_name: local.to_string(),
                password_hash: hash.clone(),
                kind,
                created_at: 0,
            })
            .await
            .expect("create account");
    }
    let id = |local: &'static str| {
        let store = store.clone();
        async move {
            store
                .account_by_address(&format!("{local}@{DOMAIN}"))
                .await
                .expect("q")
                .expect("account")
                .id
        }
    };
    let (an, binh, vanphong, dong) = (
        id("an").await,
        id("binh").await,
        id("vanphong").await,
        id("dong").await,
    );
    store
        .set_account_state(id("treo").await, AccountState::Suspended)
        .await
        .expect("suspend");
    store
        .set_account_state(id("khoa").await, AccountState::Revoked)
        .await
        .expect("revoke");
    // an keeps the unit mailbox vanphong (post right); binh may only read it; an also
    // keeps dong, which is suspended.
    store.set_grant(vanphong, an, "lrswp").await.expect("grant");
    store.set_grant(vanphong, binh, "lr").await.expect("grant");
    store.set_grant(dong, an, "lrsp").await.expect("grant");
    store
        .set_account_state(dong, AccountState::Suspended)
        .await
        .expect("suspend unit");

    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_der = certified.cert.der().clone();
    let cert_pem = certified.cert.pem();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
    );
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");

    let mut config = SmtpConfig {
        hostname: "mail.tinh.gov.vn".to_string(),
        hosted_domains: vec![DOMAIN.to_string()],
        ..SmtpConfig::default()
    };
    configure(&mut config);
    let ctx = Arc::new(SmtpContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        tls: Some(Arc::new(tls)),
        config,
        limits: Default::default(),
    });
    let shutdown = CancellationToken::new();
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let implicit = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (starttls_addr, implicit_addr) = (
        plain.local_addr().expect("addr"),
        implicit.local_addr().expect("addr"),
    );
    tokio::spawn(serve_submission(
        plain,
        ctx.clone(),
        false,
        shutdown.clone(),
    ));
    tokio::spawn(serve_submission(implicit, ctx, true, shutdown.clone()));
    Server {
        starttls: starttls_addr,
        implicit: implicit_addr,
        store,
        blobs,
        cert_pem,
        cert_der,
        shutdown,
        dir,
    }
}

impl Server {
    /// The raw messages in `local`'s INBOX.
    async fn inbox(&self, local: &str) -> Vec<String> {
        let account = self
            .store
            .account_by_address(&format!("{local}@{DOMAIN}"))
            .await
            .expect("q")
            .expect("account");
        let folders = self.store.list_folders(account.id).await.expect("folders");
        let inbox = folders
            .iter()
            .find(|f| f.special_use == Some(SpecialUse::Inbox))
            .expect("inbox");
        let uids: Vec<u32> = self
            .store
            .list_messages(inbox.id)
            .await
            .expect("list")
            .iter()
            .map(|m| m.uid)
            .collect();
        let mut out = Vec::new();
        for record in self
            .store
            .fetch_records(inbox.id, &uids)
            .await
            .expect("fetch")
        {
            let data = self.blobs.get(&record.blob).await.expect("blob");
            out.push(String::from_utf8_lossy(&data).into_owned());
        }
        out
    }

    fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("root");
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn tls_handshake(&self, tcp: TcpStream) -> TlsStream<TcpStream> {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        self.tls_connector()
            .connect(name, tcp)
            .await
            .expect("handshake")
    }

    /// A plain connection to the STARTTLS listener, greeted.
    async fn connect_plain(&self) -> Client<TcpStream> {
        let stream = TcpStream::connect(self.starttls).await.expect("connect");
        let mut c = Client {
            io: BufReader::new(stream),
        };
        c.expect("220 mail.tinh.gov.vn").await;
        c
    }

    /// A connection to the implicit-TLS listener, greeted and EHLO'd.
    async fn connect_tls(&self) -> Client<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.implicit).await.expect("connect");
        let tls = self.tls_handshake(tcp).await;
        let mut c = Client {
            io: BufReader::new(tls),
        };
        c.expect("220 mail.tinh.gov.vn").await;
        c.cmd("EHLO client.example", "250").await;
        c
    }

    /// Logged in as `local` over implicit TLS.
    async fn login(&self, local: &str) -> Client<TlsStream<TcpStream>> {
        let mut c = self.connect_tls().await;
        let plain = base64(format!("\0{local}@{DOMAIN}\0{PASSWORD}").as_bytes());
        c.cmd(&format!("AUTH PLAIN {plain}"), "235 2.7.0").await;
        c
    }
}

struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
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

    async fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }

    /// MAIL, RCPTs and DATA with `message`; returns the reply to the end of data.
    async fn send_mail(&mut self, from: &str, rcpts: &[&str], message: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250").await;
        for rcpt in rcpts {
            self.cmd(&format!("RCPT TO:<{rcpt}>"), "250").await;
        }
        self.cmd("DATA", "354").await;
        self.send(message.as_bytes()).await;
        self.send(b".\r\n").await;
        self.reply().await
    }

    async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// RFC 4648 base64 with padding (the test's own, so it checks the server's decoder).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn message(from: &str, to: &str, subject: &str) -> String {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nNội dung thư.\r\n")
}

#[tokio::test]
async fn auth_and_mail_need_tls_then_login() {
    let s = start(|_| {}).await;
    let mut c = s.connect_plain().await;
    let ehlo = c.cmd("EHLO client.example", "250").await;
    assert!(ehlo.contains("STARTTLS"), "{ehlo:?}");
    assert!(!ehlo.contains("AUTH"), "no AUTH before TLS: {ehlo:?}");
    // Loopback is not trusted: a password is never taken in plain text.
    c.cmd(
        &format!("AUTH PLAIN {}", base64(b"\0an@tinh.gov.vn\0x")),
        "530 5.7.0 Must issue a STARTTLS command first",
    )
    .await;
    c.cmd(
        "MAIL FROM:<an@tinh.gov.vn>",
        "530 5.7.0 Must issue a STARTTLS command first",
    )
    .await;
    c.cmd("STARTTLS", "220 2.0.0").await;
    let tls = s.tls_handshake(c.io.into_inner()).await;
    let mut c = Client {
        io: BufReader::new(tls),
    };
    let ehlo = c.cmd("EHLO client.example", "250").await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo:?}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo:?}");
    c.cmd(
        "MAIL FROM:<an@tinh.gov.vn>",
        "530 5.7.0 Authentication required",
    )
    .await;
    c.cmd("AUTH CRAM-MD5", "504 5.5.4").await;
    // LOGIN with prompts, then AUTH again is refused.
    c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    c.cmd(&base64(b"AN@tinh.gov.vn"), "334 UGFzc3dvcmQ6").await;
    c.cmd(&base64(PASSWORD.as_bytes()), "235 2.7.0").await;
    c.cmd("AUTH PLAIN", "503 5.5.1").await;
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            &message("an@tinh.gov.vn", "binh@tinh.gov.vn", "qua 587"),
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    c.cmd("QUIT", "221").await;
    assert_eq!(s.inbox("binh").await.len(), 1);
}

#[tokio::test]
async fn failed_logins_are_slowed_capped_and_say_why_for_locked_mailboxes() {
    let s = start(|_| {}).await;
    let mut c = s.connect_tls().await;
    let started = Instant::now();
    c.cmd(
        &format!("AUTH PLAIN {}", base64(b"\0an@tinh.gov.vn\0wrong")),
        "535 5.7.8 Authentication credentials invalid",
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a failure is answered after a delay"
    );
    // An unknown login gets the same answer.
    c.cmd(
        &format!("AUTH PLAIN {}", base64(b"\0nobody@tinh.gov.vn\0wrong")),
        "535 5.7.8 Authentication credentials invalid",
    )
    .await;
    // PLAIN after a 334 prompt; cancelling is not a failed login.
    c.cmd("AUTH PLAIN", "334").await;
    c.cmd("*", "501 5.0.0").await;
    c.cmd("AUTH PLAIN", "334").await;
    c.cmd(&base64(b"\0an@tinh.gov.vn\0still wrong"), "535 5.7.8")
        .await;
    c.expect("421 4.7.0").await;
    assert!(c.closed().await, "closed after three failures");

    let mut c = s.connect_tls().await;
    c.cmd("AUTH PLAIN !!!", "501 5.5.2").await;
    let reply = c
        .cmd(
            &format!(
                "AUTH PLAIN {}",
                base64(format!("\0treo@{DOMAIN}\0{PASSWORD}").as_bytes())
            ),
            "535 5.7.8",
        )
        .await;
    assert!(
        reply.contains("<treo@tinh.gov.vn> is suspended"),
        "{reply:?}"
    );
    let reply = c
        .cmd(
            &format!(
                "AUTH PLAIN {}",
                base64(format!("\0khoa@{DOMAIN}\0{PASSWORD}").as_bytes())
            ),
            "535 5.7.8",
        )
        .await;
    assert!(reply.contains("revoked"), "{reply:?}");
}

#[tokio::test]
async fn sending_as_oneself_lands_in_the_inbox_with_submission_headers() {
    let s = start(|_| {}).await;
    let mut c = s.login("an").await;
    let forged = "X-Congvu-Sent-By: ceo@tinh.gov.vn\r\n";
    let text = format!(
        "{forged}From: \"An\" <An@Tinh.gov.vn>\r\nTo: binh@tinh.gov.vn\r\nSubject: own\r\n\r\nxin chao\r\n"
    );
    let reply = c
        .send_mail("an@tinh.gov.vn", &["binh@tinh.gov.vn"], &text)
        .await;
    assert!(reply.starts_with("250 2.0.0 Ok: queued as"), "{reply:?}");
    c.cmd("RCPT TO:<binh@tinh.gov.vn>", "503 5.5.1").await;
    c.cmd("MAIL FROM:<an@tinh.gov.vn>", "250").await;
    c.cmd(
        "RCPT TO:<nobody@tinh.gov.vn>",
        "550 5.1.1 <nobody@tinh.gov.vn>: no such mailbox here",
    )
    .await;
    c.cmd("RCPT TO:<khoa@tinh.gov.vn>", "550 5.2.1").await;
    c.cmd("QUIT", "221").await;

    let inbox = s.inbox("binh").await;
    assert_eq!(inbox.len(), 1);
    let stored = &inbox[0];
    assert!(
        stored.starts_with("Return-Path: <an@tinh.gov.vn>\r\nReceived: from client.example (unknown [127.0.0.1])\r\n\tby mail.tinh.gov.vn with ESMTPSA id "),
        "{stored:?}"
    );
    assert!(
        !stored.contains("X-Congvu-Sent-By"),
        "the client's own Sent-By is removed and none is added for one's own address: {stored:?}"
    );
    assert!(
        stored.contains("\r\nMessage-ID: <"),
        "Message-ID added: {stored:?}"
    );
    assert!(stored.contains("\r\nDate: "), "Date added: {stored:?}");
    assert!(stored.ends_with("Subject: own\r\n\r\nxin chao\r\n"));
}

#[tokio::test]
async fn sending_as_someone_else_is_refused_in_envelope_and_header() {
    let s = start(|_| {}).await;
    let mut c = s.login("an").await;
    let reply = c.cmd("MAIL FROM:<binh@tinh.gov.vn>", "550 5.7.1").await;
    assert!(
        reply.contains("<binh@tinh.gov.vn> in the envelope sender (MAIL FROM) refused")
            && reply.contains("logged in as <an@tinh.gov.vn>"),
        "{reply:?}"
    );
    c.cmd("MAIL FROM:<boss@example.com>", "550 5.7.1").await;
    c.cmd("MAIL FROM:<>", "550 5.7.1").await;
    // binh holds only "lr" on vanphong: reading is not posting.
    let mut b = s.login("binh").await;
    let reply = b.cmd("MAIL FROM:<vanphong@tinh.gov.vn>", "550 5.7.1").await;
    assert!(reply.contains("no right to post (p)"), "{reply:?}");
    // A kept mailbox that is suspended sends nothing.
    let reply = c.cmd("MAIL FROM:<dong@tinh.gov.vn>", "550 5.7.1").await;
    assert!(reply.contains("suspended"), "{reply:?}");

    // The envelope is right, the From header is not.
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            "From: Giám đốc <binh@tinh.gov.vn>\r\nSubject: giả\r\n\r\nx\r\n",
        )
        .await;
    assert!(
        reply.starts_with("550 5.7.1 Sender <binh@tinh.gov.vn> in the From header refused"),
        "{reply:?}"
    );
    // Two From addresses, the second not allowed; and no From at all.
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            "From: an@tinh.gov.vn, \"an@tinh.gov.vn\" <binh@tinh.gov.vn>\r\n\r\nx\r\n",
        )
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply:?}");
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            "Subject: none\r\n\r\nx\r\n",
        )
        .await;
    assert!(reply.starts_with("550 5.6.0"), "{reply:?}");
    c.cmd("QUIT", "221").await;
    assert!(s.inbox("binh").await.is_empty());
}

#[tokio::test]
async fn a_keeper_sends_as_the_unit_mailbox_and_is_named() {
    let s = start(|_| {}).await;
    let mut c = s.login("an").await;
    let reply = c
        .send_mail(
            "VanPhong@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            &message(
                "Văn phòng Sở <vanphong@tinh.gov.vn>",
                "binh@tinh.gov.vn",
                "Công văn",
            ),
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    // Own envelope, unit mailbox in From: also marked.
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &["binh@tinh.gov.vn"],
            &message("vanphong@tinh.gov.vn", "binh@tinh.gov.vn", "Công văn 2"),
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    let inbox = s.inbox("binh").await;
    assert_eq!(inbox.len(), 2);
    for stored in &inbox {
        assert_eq!(
            stored.matches("X-Congvu-Sent-By: ").count(),
            1,
            "{stored:?}"
        );
        assert!(
            stored.contains("\r\nX-Congvu-Sent-By: an@tinh.gov.vn\r\n"),
            "{stored:?}"
        );
    }
    assert!(inbox[0].starts_with("Return-Path: <VanPhong@tinh.gov.vn>\r\n"));
}

#[tokio::test]
async fn the_hourly_limit_and_the_recipient_limit_hold() {
    let s = start(|c| {
        c.submission.max_messages_per_hour = 2;
        c.submission.max_recipients_per_message = 2;
    })
    .await;
    let mut c = s.login("an").await;
    for i in 0..2 {
        let reply = c
            .send_mail(
                "an@tinh.gov.vn",
                &["binh@tinh.gov.vn"],
                &message("an@tinh.gov.vn", "binh@tinh.gov.vn", &format!("thư {i}")),
            )
            .await;
        assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    }
    let reply = c.cmd("MAIL FROM:<an@tinh.gov.vn>", "450 4.7.1").await;
    assert!(
        reply.contains("<an@tinh.gov.vn> may send 2 messages per hour"),
        "{reply:?}"
    );
    // The limit is per login and shared by both listeners; binh still may send.
    let mut b = s.login("binh").await;
    b.cmd("MAIL FROM:<binh@tinh.gov.vn>", "250").await;
    b.cmd("RCPT TO:<an@tinh.gov.vn>", "250").await;
    b.cmd("RCPT TO:<vanphong@tinh.gov.vn>", "250").await;
    let reply = b.cmd("RCPT TO:<dong@tinh.gov.vn>", "452 4.5.3").await;
    assert!(reply.contains("at most 2 per message"), "{reply:?}");
    // A refused message does not count: binh's From is wrong, then two good ones pass.
    b.cmd("RSET", "250").await;
    let reply = b
        .send_mail(
            "binh@tinh.gov.vn",
            &["an@tinh.gov.vn"],
            &message("an@tinh.gov.vn", "an", "x"),
        )
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply:?}");
    for _ in 0..2 {
        let reply = b
            .send_mail(
                "binh@tinh.gov.vn",
                &["an@tinh.gov.vn"],
                &message("binh@tinh.gov.vn", "an@tinh.gov.vn", "y"),
            )
            .await;
        assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    }
    assert_eq!(s.inbox("binh").await.len(), 2);
    assert_eq!(s.inbox("an").await.len(), 2);
}

/// Remote recipients go to the outbound queue (without Return-Path, which the final
/// delivery adds), the local one into its INBOX (with Return-Path), from one transaction.
#[tokio::test]
async fn remote_recipients_are_queued_and_local_ones_stored() {
    let s = start(|_| {}).await;
    let mut c = s.login("an").await;
    let reply = c
        .send_mail(
            "an@tinh.gov.vn",
            &[
                "someone@example.com",
                "binh@tinh.gov.vn",
                "Other@Example.org",
            ],
            &message("an@tinh.gov.vn", "someone@example.com", "ra ngoài"),
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply:?}");
    let inbox = s.inbox("binh").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].starts_with("Return-Path: <an@tinh.gov.vn>\r\nReceived: "));

    let queue = s.store.list_queue().await.expect("queue");
    assert_eq!(queue.len(), 1, "{queue:?}");
    let entry = &queue[0];
    assert_eq!(entry.mail_from, "an@tinh.gov.vn");
    assert_eq!(entry.submitted_by.as_deref(), Some("an@tinh.gov.vn"));
    let mut rcpts: Vec<&str> = entry
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    rcpts.sort();
    assert_eq!(rcpts, ["Other@Example.org", "someone@example.com"]);
    let queued = s.blobs.get(&entry.blob).await.expect("queued blob");
    let queued = String::from_utf8_lossy(&queued);
    assert!(
        queued.starts_with("Received: from client.example (unknown [127.0.0.1])\r\n\tby mail.tinh.gov.vn with ESMTPSA id "),
        "{queued:?}"
    );
    assert!(!queued.contains("Return-Path"), "{queued:?}");
    assert_eq!(
        format!("Return-Path: <an@tinh.gov.vn>\r\n{queued}"),
        inbox[0],
        "the local copy is the queued one with Return-Path on top"
    );

    c.cmd("MAIL FROM:<an@tinh.gov.vn>", "250").await;
    c.cmd("RCPT TO:<not an address@example.com>", "501").await;
    c.cmd("RCPT TO:<x@-bad..example>", "501 5.1.3").await;
}

/// Python's smtplib: STARTTLS + LOGIN on 587, and SMTP_SSL on 465, with certificate checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_submits_over_starttls_and_implicit_tls() {
    let s = start(|_| {}).await;
    // smtplib encodes AUTH credentials as ASCII only, so an gets an ASCII password here (the
    // other tests log in with the Vietnamese one).
    let ascii_password = "Matkhau-2026!";
    let an = s
        .store
        .account_by_address("an@tinh.gov.vn")
        .await
        .expect("q")
        .expect("an");
    s.store
        .set_password_hash(
            an.id,
            &hash_password(ascii_password, &[3u8; 16]).expect("hash"),
        )
        .await
        .expect("set password");
    let ca = s.dir.path().join("ca.pem");
    std::fs::write(&ca, &s.cert_pem).expect("write ca");
    let script = r#"
import smtplib, ssl, sys
from email.message import EmailMessage
ca, port587, port465, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)

def msg(subject, sender="an@tinh.gov.vn"):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "binh@tinh.gov.vn"
    m["Subject"] = subject
    m.set_content("Nội dung tiếng Việt có dấu.")
    return m

with smtplib.SMTP("localhost", port587, timeout=20) as c:
    c.ehlo()
    assert not c.has_extn("auth"), "AUTH offered before TLS"
    c.starttls(context=ctx)
    c.ehlo()
    assert "PLAIN" in c.esmtp_features["auth"], c.esmtp_features
    c.login("an@tinh.gov.vn", password)
    c.send_message(msg("qua cổng 587"))
    try:
        c.send_message(msg("giả danh", sender="binh@tinh.gov.vn"), from_addr="binh@tinh.gov.vn")
        raise SystemExit("sending as binh was accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 550, e
    c.rset()

with smtplib.SMTP_SSL("localhost", port465, context=ctx, timeout=20) as c:
    try:
        c.login("an@tinh.gov.vn", "wrong-password")
        raise SystemExit("a wrong password was accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
    c.login("an@tinh.gov.vn", password)
    c.send_message(msg("qua cổng 465, thay mặt văn phòng", sender="Văn phòng <vanphong@tinh.gov.vn>"))
print("ok")
"#;
    let args = [
        ca.to_string_lossy().into_owned(),
        s.starttls.port().to_string(),
        s.implicit.port().to_string(),
        ascii_password.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("run python3")
    })
    .await
    .expect("join");
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("ok"),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let inbox = s.inbox("binh").await;
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert!(
        inbox[0].contains("Subject: qua =?utf-8?q?c=E1=BB=95ng?= 587\r\n"),
        "{:?}",
        inbox[0]
    );
    assert!(!inbox[0].contains("X-Congvu-Sent-By"));
    assert!(inbox[1].contains("\r\nX-Congvu-Sent-By: an@tinh.gov.vn\r\n"));
}

/// swaks, a second independent client: AUTH PLAIN after STARTTLS, and AUTH LOGIN over
/// implicit TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_submits_with_auth_plain_and_login() {
    let s = start(|_| {}).await;
    let runs = [
        vec!["--tls", "--auth", "PLAIN"],
        vec!["--tls-on-connect", "--auth", "LOGIN"],
    ];
    for (i, extra) in runs.iter().enumerate() {
        let port = if i == 0 {
            s.starttls.port()
        } else {
            s.implicit.port()
        };
        let mut args: Vec<String> = [
            "--server",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--from",
            "an@tinh.gov.vn",
            "--to",
            "binh@tinh.gov.vn",
            "--auth-user",
            "an@tinh.gov.vn",
            "--auth-password",
            PASSWORD,
            "--header",
            "Subject: swaks",
            "--timeout",
            "20",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        let output = tokio::task::spawn_blocking(move || {
            Command::new("swaks")
                .args(&args)
                .output()
                .expect("run swaks")
        })
        .await
        .expect("join");
        assert!(
            output.status.success(),
            "swaks {extra:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(s.inbox("binh").await.len(), 2);
}

/// The test clock of the expiry test: long after the accounts were made (at 0).
fn long_after_creation() -> i64 {
    1_000_000
}

/// The shared login check: an expired password gets `535 5.7.8` saying where to change it,
/// through PLAIN and LOGIN, and is audited; a wrong one says nothing about expiry.
#[tokio::test]
async fn expired_passwords_get_535_with_where_to_change_them() {
    let s = start(|c| {
        c.login_policy = congvu_store::login::LoginPolicy {
            user_password_max_age: 1_000,
            admin_password_max_age: 1_000,
            security: Default::default(),
        };
        c.now = long_after_creation;
    })
    .await;
    let mut c = s.connect_tls().await;
    let plain = base64(format!("\0an@{DOMAIN}\0{PASSWORD}").as_bytes());
    let reply = c.cmd(&format!("AUTH PLAIN {plain}"), "535 5.7.8").await;
    assert!(
        reply.contains("expired") && reply.contains("webmail"),
        "{reply:?}"
    );
    c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    c.cmd(
        &base64(format!("binh@{DOMAIN}").as_bytes()),
        "334 UGFzc3dvcmQ6",
    )
    .await;
    let reply = c.cmd(&base64(b"wrong"), "535 5.7.8").await;
    assert!(!reply.contains("expired"), "{reply:?}");
    let details: Vec<String> = s
        .store
        .list_audit()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.entry.detail)
        .collect();
    assert!(
        details.iter().any(|d| d == "smtp: password expired")
            && details.iter().any(|d| d == "smtp: bad credentials"),
        "{details:?}"
    );
}
