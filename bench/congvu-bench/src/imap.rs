//! The little IMAP client the load generator needs: connect (plain or implicit TLS), send
//! tagged commands, read untagged responses with their literals (RFC 9051 §2.2.2, §4.3) up to
//! the tagged completion.
//!
//! Why hand-written: a load generator must pipeline commands, send non-synchronising literals
//! (RFC 7888 LITERAL+), time each command from its first byte to its tagged reply, and count
//! 100,000 untagged FETCH lines without building a typed value for each. The async IMAP client
//! crates (async-imap and its kin) hide exactly that behind a typed, one-command-at-a-time API,
//! so what they would measure is their parser as much as the server.

use anyhow::{Context as _, Result, bail};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Any byte stream a connection runs on (TCP or TLS over TCP).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A response the server sent before a tagged completion: one line, with the bytes of any
/// literals it carried in place.
pub type Untagged = Vec<u8>;

pub struct Reply {
    pub untagged: Vec<Untagged>,
    /// The tagged status line without the tag: `OK ...`, `NO ...` or `BAD ...`.
    pub status: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// The numbers after `* <word>` (SEARCH, SORT), or after `ALL` in an ESEARCH answer.
    pub fn numbers(&self, word: &str) -> Vec<u32> {
        let prefix = format!("* {word}");
        let mut out = Vec::new();
        for u in &self.untagged {
            if u.starts_with(prefix.as_bytes()) {
                let text = String::from_utf8_lossy(&u[prefix.len()..]);
                out.extend(
                    text.split_ascii_whitespace()
                        .filter_map(|t| t.parse::<u32>().ok()),
                );
            }
        }
        out
    }

    /// How many untagged responses contain ` <word>` right after their number: `* 12 FETCH`.
    pub fn count_numbered(&self, word: &str) -> usize {
        self.untagged
            .iter()
            .filter(|u| numbered(u, word).is_some())
            .count()
    }

    /// The number of the last `* n <word>` response (EXISTS).
    pub fn last_numbered(&self, word: &str) -> Option<u32> {
        self.untagged.iter().rev().find_map(|u| numbered(u, word))
    }
}

/// `* 12 FETCH ...` -> Some(12) for word FETCH.
pub fn numbered(line: &[u8], word: &str) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let n: u32 = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    let after = &rest[space + 1..];
    let w = word.as_bytes();
    (after.len() >= w.len()
        && after[..w.len()].eq_ignore_ascii_case(w)
        && after
            .get(w.len())
            .is_none_or(|b| matches!(b, b' ' | b'\r' | b'\n')))
    .then_some(n)
}

pub struct Conn {
    reader: Reader,
    writer: tokio::io::WriteHalf<Box<dyn Stream>>,
    next_tag: u64,
}

/// A TLS client configuration that accepts any certificate: both servers run with self-signed
/// certificates on loopback, and what is measured is the server's memory, not trust.
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub addr: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Conn {
    /// Connects and reads the greeting.
    pub async fn connect(target: &Target) -> Result<Conn> {
        let tcp = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match &target.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .context("TLS handshake")?;
                Box::new(tls)
            }
        };
        let (r, w) = tokio::io::split(stream);
        let mut conn = Conn {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: w,
            next_tag: 1,
        };
        let greeting = conn.read_response().await?;
        if !greeting.starts_with(b"* OK") && !greeting.starts_with(b"* PREAUTH") {
            bail!(
                "greeting: {}",
                String::from_utf8_lossy(&greeting).trim_end()
            );
        }
        Ok(conn)
    }

    /// Connects and logs in (LOGIN with quoted strings).
    pub async fn login(target: &Target, user: &str, password: &str) -> Result<Conn> {
        let mut conn = Conn::connect(target).await?;
        let reply = conn
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .await?;
        if !reply.ok() {
            bail!("LOGIN {user}: {}", reply.status);
        }
        Ok(conn)
    }

    pub fn tag(&mut self) -> String {
        let t = format!("b{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Reads one response (a line and the literals it announces), CRLFs included.
    pub async fn read_response(&mut self) -> Result<Vec<u8>> {
        read_response(&mut self.reader).await
    }

    /// Reads responses until the one tagged `tag`.
    pub async fn read_until_tagged(&mut self, tag: &str) -> Result<Reply> {
        let mut untagged = Vec::new();
        loop {
            let r = self.read_response().await?;
            if r.len() > tag.len() && r.starts_with(tag.as_bytes()) && r[tag.len()] == b' ' {
                let status = String::from_utf8_lossy(&r[tag.len() + 1..])
                    .trim_end()
                    .to_string();
                return Ok(Reply { untagged, status });
            }
            if r.starts_with(b"+") {
                bail!(
                    "unexpected continuation request: {}",
                    String::from_utf8_lossy(&r)
                );
            }
            untagged.push(r);
        }
    }

    /// Sends raw bytes (a command the caller tagged and terminated).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await?;
        Ok(())
    }

    /// Sends `TAG text\r\n` and reads the reply.
    pub async fn command(&mut self, text: &str) -> Result<Reply> {
        let tag = self.tag();
        self.send(format!("{tag} {text}\r\n").as_bytes()).await?;
        self.read_until_tagged(&tag).await
    }

    /// APPEND one message with a non-synchronising literal (RFC 7888).
    pub async fn append(&mut self, folder: &str, flags: &str, message: &[u8]) -> Result<Reply> {
        let tag = self.tag();
        let mut cmd = format!(
            "{tag} APPEND {} ({flags}) {{{}+}}\r\n",
            quote(folder),
            message.len()
        )
        .into_bytes();
        cmd.extend_from_slice(message);
        cmd.extend_from_slice(b"\r\n");
        self.send(&cmd).await?;
        self.read_until_tagged(&tag).await
    }

    /// IDLE (RFC 2177): sends the command and waits for the continuation.
    pub async fn idle(&mut self) -> Result<String> {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            let r = self.read_response().await?;
            if r.starts_with(b"+") {
                return Ok(tag);
            }
            if r.starts_with(tag.as_bytes()) {
                bail!("IDLE refused: {}", String::from_utf8_lossy(&r).trim_end());
            }
        }
    }

    /// Ends IDLE with DONE and reads the tagged reply.
    pub async fn done(&mut self, tag: &str) -> Result<Reply> {
        self.send(b"DONE\r\n").await?;
        self.read_until_tagged(tag).await
    }

    /// Splits the connection for pipelining: one task writes, another reads.
    pub fn into_split(self) -> (Reader, tokio::io::WriteHalf<Box<dyn Stream>>) {
        (self.reader, self.writer)
    }
}

pub type Reader = BufReader<tokio::io::ReadHalf<Box<dyn Stream>>>;

/// Reads one response (a line and the literals it announces), CRLFs included.
pub async fn read_response(reader: &mut Reader) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = reader.read_until(b'\n', &mut out).await?;
        if n == 0 {
            bail!("connection closed by the server");
        }
        match literal_length(&out[start..]) {
            Some(len) => {
                let at = out.len();
                out.resize(at + len, 0);
                reader.read_exact(&mut out[at..]).await?;
            }
            None => return Ok(out),
        }
    }
}

/// Reads responses from a split reader until `count` tagged replies came back; returns how many
/// were not OK, with the first such status.
pub async fn read_tagged_replies(
    mut reader: Reader,
    count: usize,
) -> Result<(usize, Option<String>)> {
    let mut seen = 0;
    let mut failed = 0;
    let mut first = None;
    while seen < count {
        let r = read_response(&mut reader).await?;
        if r.starts_with(b"* ") {
            if r.starts_with(b"* BYE") {
                bail!("server said {}", String::from_utf8_lossy(&r).trim_end());
            }
            continue;
        }
        if r.starts_with(b"+") {
            continue;
        }
        seen += 1;
        let text = String::from_utf8_lossy(&r);
        let mut parts = text.splitn(2, ' ');
        parts.next();
        let status = parts.next().unwrap_or("").trim_end();
        if !status.starts_with("OK") {
            failed += 1;
            first.get_or_insert_with(|| status.to_string());
        }
    }
    Ok((failed, first))
}

/// A literal announced at the end of a response line: `{n}\r\n` (servers never send `{n+}`).
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An IMAP quoted string (RFC 9051 §4.3).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_numbers() {
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_length(b"* 1 FETCH (FLAGS ())\r\n"), None);
        assert_eq!(numbered(b"* 12 FETCH (FLAGS ())\r\n", "FETCH"), Some(12));
        assert_eq!(numbered(b"* 12 EXISTS\r\n", "EXISTS"), Some(12));
        assert_eq!(numbered(b"* 12 EXISTSX\r\n", "EXISTS"), None);
        assert_eq!(numbered(b"* OK [UIDNEXT 3]\r\n", "OK"), None);
        let r = Reply {
            untagged: vec![b"* SORT 3 1 2\r\n".to_vec()],
            status: "OK".into(),
        };
        assert_eq!(r.numbers("SORT"), vec![3, 1, 2]);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
