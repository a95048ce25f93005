//! COMPRESS=DEFLATE (RFC 4978) on plain, STARTTLS and port-993 connections, driven by a
//! client that speaks raw deflate (RFC 1951) with flate2: every response must inflate without
//! the client sending more (the server sync-flushes), literals and large FETCH answers cross
//! chunk boundaries, a second COMPRESS is refused, and a deflate bomb ends the session instead
//! of filling memory.

mod common;

use common::{Client, PASSWORD, Server, start, start_mode};
use congvu_imap::TlsMode;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// An IMAP client on a compressed stream.
struct ZClient<S> {
    s: S,
    inflate: Decompress,
    deflate: Compress,
    /// Inflated octets not yet returned as lines.
    plain: Vec<u8>,
    n: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ZClient<S> {
    fn new(s: S) -> Self {
        ZClient {
            s,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            plain: Vec::new(),
            n: 0,
        }
    }

    async fn send(&mut self, data: &[u8]) {
        let wire = deflate_sync(&mut self.deflate, data);
        self.s.write_all(&wire).await.expect("write");
    }

    /// Reads until `plain` holds a full line; None at end of stream.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(p) = self.plain.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.plain.drain(..=p).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let mut raw = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut raw))
                .await
                .expect("the server must flush its deflate stream: timed out waiting")
                .ok()?;
            if n == 0 {
                return None;
            }
            inflate_all(&mut self.inflate, &raw[..n], &mut self.plain);
        }
    }

    async fn until(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await.unwrap_or_else(|| panic!("closed: {all}"));
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    async fn cmd(&mut self, command: &str) -> String {
        self.n += 1;
        let tag = format!("z{}", self.n);
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until(&tag).await
    }
}

fn deflate_sync(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    let mut taken = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let before = c.total_in();
        c.compress_vec(&data[taken..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        taken += (c.total_in() - before) as usize;
        if taken == data.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

fn inflate_all(d: &mut Decompress, mut input: &[u8], into: &mut Vec<u8>) {
    loop {
        let mut buf = [0u8; 8192];
        let (i0, o0) = (d.total_in(), d.total_out());
        d.decompress(input, &mut buf, FlushDecompress::None)
            .expect("server sent bad deflate data");
        let used = (d.total_in() - i0) as usize;
        let made = (d.total_out() - o0) as usize;
        into.extend_from_slice(&buf[..made]);
        input = &input[used..];
        if input.is_empty() && made < buf.len() {
            return;
        }
    }
}

/// Logs in on an already connected stream, turns COMPRESS on, and checks the session works:
/// capability, a second COMPRESS refused, APPEND with a synchronising literal, a FETCH far
/// larger than one deflate window.
async fn exercise<S: AsyncRead + AsyncWrite + Unpin>(s: S, greeting: bool) {
    let mut r = tokio::io::BufReader::new(s);
    if greeting {
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut r, &mut line)
            .await
            .expect("greeting");
    }
    r.get_mut()
        .write_all(format!("l LOGIN an@tinh.gov.vn \"{PASSWORD}\"\r\n").as_bytes())
        .await
        .expect("w");
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut r, &mut line)
        .await
        .expect("login");
    assert!(line.starts_with("l OK [CAPABILITY"), "{line}");
    assert!(line.contains(" COMPRESS=DEFLATE"), "{line}");
    r.get_mut()
        .write_all(b"c COMPRESS DEFLATE\r\n")
        .await
        .expect("w");
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut r, &mut line)
        .await
        .expect("compress");
    assert!(line.starts_with("c OK"), "{line}");
    assert!(
        r.buffer().is_empty(),
        "nothing may follow the OK uncompressed"
    );
    let mut z = ZClient::new(r.into_inner());
    let t = z.cmd("NOOP").await;
    assert!(t.ends_with(" OK NOOP completed\r\n"), "{t}");
    let t = z.cmd("COMPRESS DEFLATE").await;
    assert!(t.contains(" NO [COMPRESSIONACTIVE]"), "{t}");
    let t = z.cmd("CAPABILITY").await;
    assert!(t.contains("COMPRESS=DEFLATE"), "{t}");

    // A 300 KB message: the literal is sent in one compressed burst, the FETCH answer spans
    // many inflate chunks on both sides.
    let mut body = String::new();
    for i in 0..6000 {
        body.push_str(&format!(
            "Dong {i}: Báo cáo tổng hợp của Sở Nội vụ {}\r\n",
            i * 7919
        ));
    }
    let message =
        format!("From: an@tinh.gov.vn\r\nTo: binh@tinh.gov.vn\r\nSubject: nen\r\n\r\n{body}");
    z.send(format!("a APPEND INBOX {{{}}}\r\n", message.len()).as_bytes())
        .await;
    let cont = z.line().await.expect("continuation");
    assert!(cont.starts_with("+ "), "{cont}");
    z.send(format!("{message}\r\n").as_bytes()).await;
    let t = z.until("a").await;
    assert!(t.contains("a OK [APPENDUID "), "{t}");
    let t = z.cmd("SELECT INBOX").await;
    assert!(t.contains("* 1 EXISTS"), "{t}");
    z.n += 1;
    let tag = format!("z{}", z.n);
    z.send(format!("{tag} FETCH 1 BODY.PEEK[]\r\n").as_bytes())
        .await;
    let head = z.line().await.expect("fetch");
    let want = format!("* 1 FETCH (BODY[] {{{}}}\r\n", message.len());
    assert_eq!(head, want);
    while z.plain.len() < message.len() {
        let mut raw = [0u8; 4096];
        let n = z.s.read(&mut raw).await.expect("read");
        assert!(n > 0, "closed in the middle of the literal");
        inflate_all(&mut z.inflate, &raw[..n], &mut z.plain);
    }
    let got: Vec<u8> = z.plain.drain(..message.len()).collect();
    assert!(got == message.as_bytes(), "FETCH returned other bytes");
    let t = z.until(&tag).await;
    assert!(t.ends_with(&format!("{tag} OK FETCH completed\r\n")), "{t}");
    let t = z.cmd("LOGOUT").await;
    assert!(t.contains("* BYE"), "{t}");
}

#[tokio::test]
async fn compress_on_plain_connection() {
    let server = start(|_| {}, None).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    exercise(tcp, true).await;
}

fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
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
    (Arc::new(server), Arc::new(client))
}

#[tokio::test]
async fn compress_inside_implicit_tls() {
    let (server_cfg, client_cfg) = tls_pair();
    let server = start_mode(
        |c| c.allow_plaintext_auth_on_loopback = false,
        Some(server_cfg),
        TlsMode::Implicit,
    )
    .await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(client_cfg)
        .connect(name, tcp)
        .await
        .expect("handshake");
    exercise(tls, true).await;
}

#[tokio::test]
async fn compress_after_starttls() {
    let (server_cfg, client_cfg) = tls_pair();
    let server = start(
        |c| c.allow_plaintext_auth_on_loopback = false,
        Some(server_cfg),
    )
    .await;
    let (mut c, greeting) = Client::connect(&server).await;
    assert!(
        !greeting.contains("COMPRESS"),
        "not before login: {greeting}"
    );
    c.ok("STARTTLS").await;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(client_cfg)
        .connect(name, c.r.into_inner())
        .await
        .expect("handshake");
    // After STARTTLS there is no new greeting.
    exercise(tls, false).await;
}

async fn logged_in(server: &Server) -> Client {
    Client::login(server, "an").await
}

#[tokio::test]
async fn refusals() {
    let server = start(|_| {}, None).await;
    // Before login COMPRESS is not available (RFC 4978 §3: authenticated state).
    let (mut c, _) = Client::connect(&server).await;
    let t = c.cmd("COMPRESS DEFLATE").await;
    assert!(t.starts_with("t1 BAD"), "{t}");
    // An unknown mechanism is a BAD that says which one exists.
    let mut c = logged_in(&server).await;
    let t = c.cmd("COMPRESS LZMA").await;
    assert!(t.contains(" BAD ") && t.contains("DEFLATE"), "{t}");
    // The connection is still plain and usable.
    c.ok("NOOP").await;
}

#[tokio::test]
async fn bytes_pipelined_after_compress_are_inflated() {
    let server = start(|_| {}, None).await;
    let mut c = logged_in(&server).await;
    let mut deflate = Compress::new(Compression::default(), false);
    let mut wire = b"c COMPRESS DEFLATE\r\n".to_vec();
    wire.extend(deflate_sync(&mut deflate, b"n NOOP\r\n"));
    c.r.get_mut().write_all(&wire).await.expect("write");
    let ok = c.line().await;
    assert!(ok.starts_with("c OK"), "{ok}");
    // The NOOP's compressed answer may already sit in the reader's buffer.
    let early = c.r.buffer().to_vec();
    let mut z = ZClient::new(c.r.into_inner());
    z.deflate = deflate;
    inflate_all(&mut z.inflate, &early, &mut z.plain);
    let t = z.until("n").await;
    assert!(t.starts_with("n OK"), "{t}");
}

#[tokio::test]
async fn deflate_bomb_ends_the_session() {
    let server = start(|_| {}, None).await;
    let mut c = logged_in(&server).await;
    c.ok("COMPRESS DEFLATE").await;
    let mut z = ZClient::new(c.r.into_inner());
    // 64 MiB of one byte with no line end compresses to about 64 KB.
    let chunk = vec![b'a'; 1 << 20];
    let mut wire = Vec::new();
    for _ in 0..64 {
        wire.extend(deflate_sync(&mut z.deflate, &chunk));
    }
    assert!(wire.len() < 1 << 20);
    // The server may close before reading everything; a failed write is fine.
    let _ = z.s.write_all(&wire).await;
    // The session ends (with `* BYE command line too long`, which a reset of the unread
    // input may hide from us) instead of inflating 64 MiB into memory.
    while let Some(line) = z.line().await {
        assert!(line.starts_with("* BYE"), "{line}");
    }
    // The server itself is fine.
    let mut c = logged_in(&server).await;
    c.ok("NOOP").await;
}
