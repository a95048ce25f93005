//! `smtp-feed`: COUNT messages of SIZE bytes over SESSIONS parallel SMTP sessions, each session
//! sending its share back to back (one transaction after the other, no pipelining), as
//! bench/smtp-relay's `feed.py` did but without one Python process limiting both servers.
//!
//! With `--starttls` the session upgrades to TLS (any certificate accepted: self-signed bench
//! certificates) and with `--auth-user` it authenticates with AUTH PLAIN, as a mail program
//! submitting on port 587 does. Every message has its own Subject and Message-ID.
//! Prints the number of accepted messages on stdout (what run.sh reads) and a `RESULT` line on
//! stderr; exits with an error when any message was refused.
//!
//! With `--attach FILE` (repeatable) every message is multipart/mixed (RFC 2046 §5.1.3): the
//! text as the first part, then each file base64-encoded (RFC 2045 §6.8) as an attachment, so
//! a receiving server's attachment, antivirus and document checks run (bench/smtp-pipeline).

use crate::smtp::Session;
use crate::{Server, imap};
use anyhow::{Result, bail};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Opts {
    /// Messages in all.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Approximate body size in bytes (whole CRLF lines).
    #[arg(long, default_value_t = 10_240)]
    size: usize,
    /// Parallel sessions, each sending its share.
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    #[arg(long)]
    sender: String,
    #[arg(long)]
    rcpt: String,
    /// STARTTLS before anything else (RFC 3207).
    #[arg(long)]
    starttls: bool,
    /// AUTH PLAIN as this user, with the global --password.
    #[arg(long)]
    auth_user: Option<String>,
    /// Attach this file to every message (repeatable): multipart/mixed, base64.
    #[arg(long)]
    attach: Vec<std::path::PathBuf>,
}

/// The boundary of the multipart body; it cannot occur in the text or in base64.
const BOUNDARY: &str = "=_congvu-bench-feed";

/// The body with `--attach` files: the text part, then one base64 part per file.
fn multipart_body(text: &str, files: &[std::path::PathBuf]) -> Result<String> {
    let mut body = format!(
        "This is a multi-part message in MIME format.\r\n--{BOUNDARY}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}"
    );
    for path in files {
        let data =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("--attach {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        let kind = match name
            .rsplit('.')
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("pdf") => "application/pdf",
            Some("zip") => "application/zip",
            Some("docx") => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Some("txt") => "text/plain",
            _ => "application/octet-stream",
        };
        body.push_str(&format!(
            "\r\n--{BOUNDARY}\r\nContent-Type: {kind}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        body.push_str(&base64_lines(&data));
    }
    body.push_str(&format!("\r\n--{BOUNDARY}--\r\n"));
    Ok(body)
}

/// Base64 (RFC 4648 §4) in CRLF-separated lines of 76 characters (RFC 2045 §6.8).
fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 28 + 4);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (j, &b)| n | u32::from(b) << (16 - 8 * j));
        for j in 0..4 {
            if j <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * j) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const LINE: &str =
    "Kinh gui cac don vi truc thuoc: bao cao so lieu tuan nay theo mau dinh kem.\r\n";

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    if o.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    let text = LINE.repeat((o.size / LINE.len()).max(1));
    let body: Arc<str> = if o.attach.is_empty() {
        text.into()
    } else {
        multipart_body(&text, &o.attach)?.into()
    };
    let tls = o.starttls.then(imap::tls_config);
    let o = Arc::new(o);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(o.sessions);
    for index in 0..o.sessions {
        let share = o.count / o.sessions + usize::from(index < o.count % o.sessions);
        let (o, body, tls) = (o.clone(), body.clone(), tls.clone());
        let addr = server.addr.clone();
        let password = server.password.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            let outcome =
                feed_session(&addr, &o, tls, &password, index, share, &body, &mut sent).await;
            (
                sent,
                outcome.err().map(|e| format!("session {index}: {e:#}")),
            )
        }));
    }
    let mut accepted = 0usize;
    let mut errors = Vec::new();
    for task in tasks {
        let (sent, error) = task.await?;
        accepted += sent;
        errors.extend(error);
    }
    let seconds = started.elapsed().as_secs_f64();
    for e in errors.iter().take(5) {
        eprintln!("{e}");
    }
    eprintln!(
        "RESULT mode=smtp-feed accepted={accepted} of={} sessions={} seconds={seconds:.2} rate={:.1}",
        o.count,
        o.sessions,
        accepted as f64 / seconds
    );
    println!("{accepted}");
    if accepted < o.count {
        bail!(
            "{} of {} messages were not accepted",
            o.count - accepted,
            o.count
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn feed_session(
    addr: &str,
    o: &Opts,
    tls: Option<Arc<rustls::ClientConfig>>,
    password: &str,
    index: usize,
    share: usize,
    body: &str,
    sent: &mut usize,
) -> Result<()> {
    if share == 0 {
        return Ok(());
    }
    let helo = "feeder.bench";
    let mut session = Session::connect(addr, helo).await?;
    if let Some(config) = tls {
        session = session.starttls(config, helo).await?;
    }
    if let Some(user) = &o.auth_user {
        session.auth_plain(user, password).await?;
    }
    let mut message = Vec::with_capacity(body.len() + 512);
    let mime = if o.attach.is_empty() {
        String::new()
    } else {
        format!("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n")
    };
    for i in 0..share {
        message.clear();
        message.extend_from_slice(
            format!(
                "From: <{from}>\r\nTo: <{to}>\r\nSubject: bench {index}-{i}\r\n\
                 Message-ID: <bench-{index}-{i}@feeder.bench>\r\n\
                 Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n{mime}\r\n",
                from = o.sender,
                to = o.rcpt
            )
            .as_bytes(),
        );
        message.extend_from_slice(body.as_bytes());
        session.send(&o.sender, &o.rcpt, &message).await?;
        *sent += 1;
    }
    session.quit().await
}
