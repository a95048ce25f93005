//! The little SMTP client the relay benchmark needs (RFC 5321): EHLO, optional STARTTLS
//! (RFC 3207) and AUTH PLAIN (RFC 4954, RFC 4616), then MAIL / RCPT / DATA transactions one
//! after another on the same session.
//!
//! Why hand-written: the feeder must cost the same for both servers and as little as possible,
//! and a bench needs nothing a mail library adds (no MIME building, no pooling, no retries).
//! Replies are read whole (multi-line `250-` continuations up to the `250 ` line) and only the
//! code is looked at.

use crate::imap::Stream;
use anyhow::{Context as _, Result, bail};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Session {
    io: BufReader<Box<dyn Stream>>,
    line: Vec<u8>,
}

/// A reply: its three-digit code and the text of its last line (for error messages).
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Session {
    /// Connects, reads the 220 greeting and says EHLO.
    pub async fn connect(addr: &str, helo: &str) -> Result<Session> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        // Commands are small writes that wait for an answer: Nagle would hold them.
        tcp.set_nodelay(true)?;
        let mut s = Session {
            io: BufReader::with_capacity(16 * 1024, Box::new(tcp) as Box<dyn Stream>),
            line: Vec::with_capacity(512),
        };
        s.expect(220, "greeting").await?;
        s.command(&format!("EHLO {helo}"), 250).await?;
        Ok(s)
    }

    /// STARTTLS (RFC 3207 §4), then EHLO again over TLS (§4.2: the server forgets what it said).
    pub async fn starttls(
        mut self,
        config: Arc<rustls::ClientConfig>,
        helo: &str,
    ) -> Result<Session> {
        self.command("STARTTLS", 220).await?;
        if !self.io.buffer().is_empty() {
            bail!("server sent data after its 220 to STARTTLS");
        }
        let inner = self.io.into_inner();
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, inner)
            .await
            .context("TLS handshake")?;
        let mut s = Session {
            io: BufReader::with_capacity(16 * 1024, Box::new(tls) as Box<dyn Stream>),
            line: self.line,
        };
        s.command(&format!("EHLO {helo}"), 250).await?;
        Ok(s)
    }

    /// AUTH PLAIN with the initial response (RFC 4954 §4, RFC 4616 §2: authzid empty).
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<()> {
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        self.command(&format!("AUTH PLAIN {token}"), 235).await?;
        Ok(())
    }

    /// One transaction: MAIL, RCPT, DATA, the message (already dot-stuffed, CRLF-terminated),
    /// and the final `.`. Returns an error naming the step that was refused.
    pub async fn send(&mut self, from: &str, to: &str, message: &[u8]) -> Result<()> {
        self.command(&format!("MAIL FROM:<{from}>"), 250).await?;
        self.command(&format!("RCPT TO:<{to}>"), 250).await?;
        self.command("DATA", 354).await?;
        self.io.write_all(message).await?;
        if !message.ends_with(b"\r\n") {
            self.io.write_all(b"\r\n").await?;
        }
        self.io.write_all(b".\r\n").await?;
        self.io.flush().await?;
        self.expect(250, "end of data").await?;
        Ok(())
    }

    pub async fn quit(mut self) -> Result<()> {
        self.command("QUIT", 221).await?;
        Ok(())
    }

    /// Sends one command line and checks the reply code.
    async fn command(&mut self, line: &str, want: u16) -> Result<Reply> {
        self.io.write_all(line.as_bytes()).await?;
        self.io.write_all(b"\r\n").await?;
        // tokio-rustls only encrypts and sends on flush.
        self.io.flush().await?;
        let verb = line.split(' ').next().unwrap_or(line);
        self.expect(want, verb).await
    }

    async fn expect(&mut self, want: u16, what: &str) -> Result<Reply> {
        let reply = self.read_reply().await?;
        if reply.code != want {
            bail!("{what}: {} {}", reply.code, reply.text);
        }
        Ok(reply)
    }

    /// Reads `ddd-text` lines up to the `ddd text` one (RFC 5321 §4.2.1).
    async fn read_reply(&mut self) -> Result<Reply> {
        loop {
            self.line.clear();
            let n = self.io.read_until(b'\n', &mut self.line).await?;
            if n == 0 {
                bail!("connection closed while waiting for a reply");
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end();
            let code: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .with_context(|| format!("not an SMTP reply: {text:?}"))?;
            if text.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply {
                    code,
                    text: text.get(4..).unwrap_or("").to_string(),
                });
            }
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4), all AUTH PLAIN needs.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
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

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"\0u\0p"), "AHUAcA==");
    }
}
