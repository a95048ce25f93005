//! Shared harness of the IMAP integration tests: the server on a loopback port, backed by the
//! real SqliteStore and FsBlobStore, a raw transcript client, and a runner for Python imaplib
//! scripts. Each test binary uses a different subset, hence the dead-code allowance.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use congvu_imap::{ImapConfig, ImapContext, TlsMode, serve};
use congvu_pipeline::Pipeline;
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, AccountState, NewAccount, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "Mật-khẩu-2026!";

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub store: Arc<SqliteStore>,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

pub async fn start(
    configure: impl FnOnce(&mut ImapConfig),
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    start_mode(configure, tls, TlsMode::StartTls).await
}

pub async fn start_mode(
    configure: impl FnOnce(&mut ImapConfig),
    tls: Option<Arc<rustls::ServerConfig>>,
    mode: TlsMode,
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
    let hash = congvu_core::password::hash_password(PASSWORD, &[3u8; 16]).expect("hash");
    for local in ["an", "binh", "treo"] {
        store
            .create_account(NewAccount {
                address: format!("{local}@tinh.gov.vn"),
                display_name: local.to_string(),
                password_hash: hash.clone(),
                kind: AccountKind::Person,
                created_at: 0,
            })
            .await
            .expect("create account");
    }
    let treo = store
        .account_by_address("treo@tinh.gov.vn")
        .await
        .expect("q")
        .expect("treo");
    store
        .set_account_state(treo.id, AccountState::Suspended)
        .await
        .expect("suspend");
    let mut config = ImapConfig {
        hostname: "mail.tinh.gov.vn".into(),
        allow_plaintext_auth_on_loopback: true,
        ..ImapConfig::default()
    };
    configure(&mut config);
    let ctx = Arc::new(ImapContext {
        store: store.clone(),
        blobs,
        pipeline: Arc::new(Pipeline::standard()),
        tls,
        config,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(serve(listener, ctx, mode, shutdown.clone()));
    Server {
        addr,
        store,
        shutdown,
        handle,
        _dir: dir,
    }
}

pub struct Client {
    pub r: BufReader<TcpStream>,
    pub n: u32,
}

impl Client {
    pub async fn connect(server: &Server) -> (Client, String) {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut c = Client {
            r: BufReader::new(tcp),
            n: 0,
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    pub async fn login(server: &Server, user: &str) -> Client {
        let (mut c, greeting) = Client::connect(server).await;
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{greeting}"
        );
        c.ok(&format!("LOGIN {user}@tinh.gov.vn \"{PASSWORD}\""))
            .await;
        c
    }

    /// One line (with any literal it announces appended).
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let fut = self.r.read_until(b'\n', &mut buf);
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .expect("timed out")
            .expect("read");
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        if let Some(open) = s
            .trim_end()
            .strip_suffix('}')
            .and_then(|x| x.rfind('{').map(|i| (i, x)))
            && let Ok(n) = open.1[open.0 + 1..].parse::<usize>()
        {
            let mut lit = vec![0u8; n];
            self.r.read_exact(&mut lit).await.expect("literal");
            s.push_str(&String::from_utf8_lossy(&lit));
            s.push_str(&Box::pin(self.line()).await);
        }
        s
    }

    pub async fn send(&mut self, raw: &str) {
        self.r
            .get_mut()
            .write_all(raw.as_bytes())
            .await
            .expect("write");
    }

    /// Sends a tagged command and returns the transcript up to and including the tagged reply.
    pub async fn cmd(&mut self, command: &str) -> String {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until(&tag).await
    }

    pub async fn until(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed; so far: {all}");
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    pub async fn ok(&mut self, command: &str) -> String {
        let t = self.cmd(command).await;
        let last = t.lines().last().unwrap_or_default();
        assert!(last.contains(" OK"), "{command} -> {t}");
        t
    }

    pub async fn append(&mut self, folder: &str, flags: &str, message: &str) -> String {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(&format!(
            "{tag} APPEND {folder} ({flags}) {{{}}}\r\n",
            message.len()
        ))
        .await;
        let cont = self.line().await;
        assert!(cont.starts_with("+ "), "{cont}");
        self.send(&format!("{message}\r\n")).await;
        let t = self.until(&tag).await;
        assert!(t.contains(&format!("{tag} OK [APPENDUID ")), "{t}");
        t
    }
}

/// Runs a Python script with `argv[1]` = port and `argv[2]` = password; it must print "ok".
pub async fn python(server: &Server, script: &'static str) {
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
