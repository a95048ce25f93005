//! The harness shared by the POP3 tests: a real server on a loopback port backed by the real
//! SqliteStore and FsBlobStore, accounts with real Argon2 hashes, messages delivered the way
//! SMTP delivers them (`blobs.put`, `parse_message`, `store.deliver`), a raw-socket client for
//! transcripts and a runner for Python poplib scripts.
#![allow(dead_code)] // Each test binary uses part of the harness.

use std::sync::Arc;
use std::time::Duration;

use congvu_core::flags::Flag;
use congvu_core::{Flags, SpecialUse};
use congvu_pop3::{MailboxLocks, Pop3Config, Pop3Context, TlsMode, serve};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{
    AccountKind, AccountState, BlobStore, Delivery, DeliveryTarget, FolderTarget, NewAccount,
    Store, Uid,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const DOMAIN: &str = "tinh.gov.vn";
/// Every test account's password: non-ASCII, to show UTF-8 passwords work.
pub const PASSWORD: &str = "Mật-khẩu-1";

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<FsBlobStore>,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
}

pub struct Options {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub mode: TlsMode,
    pub allow_plaintext_auth_on_loopback: bool,
    pub idle_timeout: Duration,
    /// Password ages and the clock of the shared login check.
    pub login_policy: congvu_store::login::LoginPolicy,
    pub now: fn() -> i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: None,
            mode: TlsMode::Stls,
            allow_plaintext_auth_on_loopback: true,
            idle_timeout: Duration::from_secs(600),
            login_policy: congvu_store::login::LoginPolicy::default(),
            now: congvu_store::login::system_now,
        }
    }
}

/// A self-signed certificate for "localhost", as a server config and the DER to trust.
pub fn tls_config() -> (
    Arc<rustls::ServerConfig>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_der = certified.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
    );
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");
    (Arc::new(config), cert_der)
}

fn password_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| congvu_core::password::hash_password(PASSWORD, &[3u8; 16]).expect("hash"))
        .clone()
}

/// Starts a server with accounts an, binh (active), treo (suspended), khoa (revoked).
pub async fn start(options: Options) -> Server {
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
    let hash = tokio::task::spawn_blocking(password_hash)
        .await
        .expect("hash");
    for local in ["an", "binh", "treo", "khoa"] {
        store
            .create_account(NewAccount {
                address: format!("{local}@{DOMAIN}"),
                display_name: local.to_string(),
                password_hash: hash.clone(),
                kind: AccountKind::Person,
                created_at: 0,
            })
            .await
            .expect("create account");
    }
    for (local, state) in [
        ("treo", AccountState::Suspended),
        ("khoa", AccountState::Revoked),
    ] {
        let account = store
            .account_by_address(&format!("{local}@{DOMAIN}"))
            .await
            .expect("q")
            .expect("account");
        store
            .set_account_state(account.id, state)
            .await
            .expect("state");
    }
    let ctx = Arc::new(Pop3Context {
        store: store.clone(),
        blobs: blobs.clone(),
        tls: options.tls,
        config: Pop3Config {
            hostname: "pop.tinh.gov.vn".to_string(),
            idle_timeout: options.idle_timeout,
            allow_plaintext_auth_on_loopback: options.allow_plaintext_auth_on_loopback,
            login_policy: options.login_policy,
            now: options.now,
        },
        locks: MailboxLocks::default(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(serve(listener, ctx, options.mode, shutdown.clone()));
    Server {
        addr,
        store,
        blobs,
        shutdown,
        handle,
        dir,
    }
}

impl Server {
    /// Delivers `raw` to `local`'s INBOX as SMTP would; returns its UID.
    pub async fn deliver(&self, local: &str, raw: &[u8]) -> Uid {
        let account = self.account(local).await;
        let blob = self.blobs.put(raw).await.expect("put");
        let index = congvu_wire::mime::parse_message(raw);
        let delivered = self
            .store
            .deliver(Delivery {
                blob,
                index: Arc::new(index),
                internal_date: 1_767_225_600,
                targets: vec![DeliveryTarget {
                    account: account.id,
                    folder: FolderTarget::Special(SpecialUse::Inbox),
                    flags: Flags::default(),
                }],
            })
            .await
            .expect("deliver");
        delivered[0].uid
    }

    pub async fn account(&self, local: &str) -> congvu_store::Account {
        self.store
            .account_by_address(&format!("{local}@{DOMAIN}"))
            .await
            .expect("q")
            .expect("account")
    }

    pub async fn inbox(&self, local: &str) -> congvu_store::Folder {
        let account = self.account(local).await;
        self.store
            .folder_by_name(account.id, "INBOX")
            .await
            .expect("q")
            .expect("INBOX")
    }

    /// (uid, seen, deleted) of every message in `local`'s INBOX.
    pub async fn inbox_state(&self, local: &str) -> Vec<(Uid, bool, bool)> {
        let folder = self.inbox(local).await;
        self.store
            .list_messages(folder.id)
            .await
            .expect("list")
            .iter()
            .map(|m| (m.uid, m.flags.has(Flag::Seen), m.flags.has(Flag::Deleted)))
            .collect()
    }

    /// Runs a Python script with poplib imported and `HOST`, `PORT`, `PASSWORD` and the
    /// helpers `login(p, local)` and `hexlines(lines)` defined; returns its standard output.
    pub async fn python(&self, script: &str) -> String {
        let prelude = format!(
            r#"
import poplib, ssl, base64, socket, sys
HOST = "127.0.0.1"
PORT = {port}
PASSWORD = {password:?}
def login(p, local):
    p.user(local + "@{DOMAIN}")
    return p.pass_(PASSWORD)
def hexlines(lines):
    return (b"\r\n".join(lines) + b"\r\n").hex()
def unverified():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c
def err(f):
    try:
        r = f()
        return "NO ERROR " + repr(r)
    except poplib.error_proto as e:
        return e.args[0].decode()
"#,
            port = self.addr.port(),
            password = PASSWORD,
        );
        let program = format!("{prelude}\n{script}");
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg("-c")
                .arg(program)
                .output()
                .expect("run python3")
        })
        .await
        .expect("join");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "python failed:\n{}\nstdout:\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

/// A raw client for transcripts: `c.cmd("STAT", "+OK 2 ")` sends one line and checks the
/// start of the status line.
pub struct Client<S> {
    pub io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(n > 0, "connection closed");
        line
    }

    pub async fn expect(&mut self, prefix: &str) -> String {
        let line = self.line().await;
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// The lines of a multi-line body up to (not including) the terminating ".".
    pub async fn body(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            if line == ".\r\n" {
                return lines;
            }
            lines.push(line.trim_end_matches("\r\n").to_string());
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    pub async fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }

    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub async fn connect(server: &Server) -> Client<TcpStream> {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut c = Client {
        io: BufReader::new(stream),
    };
    c.expect("+OK pop.tinh.gov.vn POP3 server ready").await;
    c
}

/// Base64 of `s`, for AUTH PLAIN in transcripts.
pub fn base64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
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
