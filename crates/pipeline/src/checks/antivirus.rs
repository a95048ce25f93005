//! R-POL-4: every attachment is scanned by clamd before anyone can open it. Each decoded
//! attachment is streamed with clamd's INSTREAM command (clamd(8): `zINSTREAM\0`, then chunks
//! of a 4-byte big-endian length and the data, ended by a zero length; the answer is
//! `stream: OK`, `stream: <signature> FOUND` or `<text> ERROR`, NUL-terminated) over TCP or a
//! unix socket.
//!
//! Invariant: a message with attachments is never accepted unscanned: clamd unreachable,
//! erroring or slower than the timeout gives `451 4.7.1` (try again later), unless the
//! operator set `fail_open`, which is logged at warn for every message let through.

use super::display_name;
use crate::parts::Decoded;
use crate::policy::AntivirusPolicy;
use crate::{Check, MessageView, Outcome};
use async_trait::async_trait;
use congvu_core::Reply;
use std::io;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per INSTREAM chunk.
const CHUNK: usize = 64 << 10;
/// clamd's answers are one short line; more is not clamd.
const MAX_ANSWER: usize = 4096;

/// What clamd said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanAnswer {
    Clean,
    Infected(String),
}

/// Scans `data` (at most `max_bytes` of it) with the clamd at `address` (`host:port`, or an
/// absolute path for a unix socket). Errors: cannot connect, clamd reported an error, or the
/// answer made no sense.
pub async fn scan_instream(address: &str, data: &[u8], max_bytes: u64) -> io::Result<ScanAnswer> {
    let data = &data[..data
        .len()
        .min(usize::try_from(max_bytes).unwrap_or(usize::MAX))];
    if address.starts_with('/') {
        #[cfg(unix)]
        {
            let stream = tokio::net::UnixStream::connect(address).await?;
            return instream(stream, data).await;
        }
        #[cfg(not(unix))]
        return Err(io::Error::other("unix sockets are not available here"));
    }
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    instream(stream, data).await
}

async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    data: &[u8],
) -> io::Result<ScanAnswer> {
    let sent = send_chunks(&mut stream, data).await;
    // clamd answers and closes early when a stream passes its StreamMaxLength: read the answer
    // even when sending failed, and report the send error only when there is none.
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if answer.is_empty() => return Err(sent.err().unwrap_or(e)),
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.contains(&0) || answer.len() > MAX_ANSWER {
            break;
        }
    }
    if answer.is_empty() {
        sent?;
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "clamd closed the connection without an answer",
        ));
    }
    parse_answer(&answer)
}

async fn send_chunks<S: AsyncWrite + Unpin>(stream: &mut S, data: &[u8]) -> io::Result<()> {
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in data.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).map_err(io::Error::other)?;
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&[0, 0, 0, 0]).await?;
    stream.flush().await
}

/// `stream: OK`, `stream: Eicar-Signature FOUND`, `INSTREAM size limit exceeded. ERROR`.
pub fn parse_answer(answer: &[u8]) -> io::Result<ScanAnswer> {
    let end = answer.iter().position(|b| *b == 0).unwrap_or(answer.len());
    let text = String::from_utf8_lossy(&answer[..end]);
    let text = text.trim();
    let body = text.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Ok(ScanAnswer::Clean),
        Some(b) if b.ends_with(" FOUND") => Ok(ScanAnswer::Infected(
            b.trim_end_matches(" FOUND").trim().to_string(),
        )),
        _ => Err(io::Error::other(format!("clamd: {text}"))),
    }
}

pub struct Antivirus {
    policy: AntivirusPolicy,
}

impl Antivirus {
    pub fn new(policy: AntivirusPolicy) -> Self {
        Antivirus { policy }
    }

    /// The first infected attachment of the message as (file name, signature), or the scan
    /// error.
    async fn scan_message(
        &self,
        message: &MessageView<'_>,
    ) -> io::Result<Option<(String, String)>> {
        let decoded: std::sync::Arc<Decoded> = message.decoded().await.map_err(io::Error::other)?;
        for attachment in &decoded.attachments {
            let started = Instant::now();
            let answer = scan_instream(
                &self.policy.clamd,
                &attachment.data,
                self.policy.max_stream_bytes,
            )
            .await?;
            tracing::debug!(
                attachment = %display_name(&attachment.name),
                bytes = attachment.data.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                ?answer,
                "clamd scan"
            );
            if let ScanAnswer::Infected(signature) = answer {
                return Ok(Some((attachment.name.clone(), signature)));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Check for Antivirus {
    fn name(&self) -> &'static str {
        "antivirus"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        if self.policy.clamd.is_empty() {
            return Outcome::Pass;
        }
        let timeout = Duration::from_secs(self.policy.timeout_seconds);
        let result = match tokio::time::timeout(timeout, self.scan_message(ctx)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} s", self.policy.timeout_seconds),
            )),
        };
        match result {
            Ok(None) => Outcome::Pass,
            Ok(Some((name, signature))) => {
                let name = display_name(&name);
                let signature = display_name(&signature);
                tracing::warn!(attachment = %name, %signature, mail_from = ctx.mail_from, "virus found (R-POL-4)");
                Outcome::Reject(Reply::new(
                    554,
                    "5.7.1",
                    format!(
                        "Tệp đính kèm «{name}» nhiễm mã độc {signature}, thư bị từ chối (R-POL-4). \
                         Attachment «{name}» is infected with {signature}; the message is refused."
                    ),
                ))
            }
            Err(e) if self.policy.fail_open => {
                tracing::warn!(error = %e, clamd = %self.policy.clamd, "clamd unavailable; delivering unscanned (fail_open)");
                Outcome::AddHeaders(vec![
                    "X-Congvu-Antivirus: not scanned (scanner unavailable)\r\n".into(),
                ])
            }
            Err(e) => {
                tracing::warn!(error = %e, clamd = %self.policy.clamd, "clamd unavailable; message deferred");
                Outcome::Reject(Reply::new(
                    451,
                    "4.7.1",
                    "Chưa quét được virus (máy quét không trả lời), xin gửi lại sau (R-POL-4). \
                     The virus scanner is unavailable; please try again later.",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(parse_answer(b"stream: OK\0").unwrap(), ScanAnswer::Clean);
        assert_eq!(
            parse_answer(b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0").unwrap(),
            ScanAnswer::Infected("Eicar-Test-Signature.UNOFFICIAL".into())
        );
        assert!(parse_answer(b"INSTREAM size limit exceeded. ERROR\0").is_err());
        assert!(parse_answer(b"garbage").is_err());
    }
}
