//! `smtp-feed`: COUNT messages of SIZE bytes over SESSIONS parallel SMTP sessions, each session
//! sending its share back to back (one transaction after the other, no pipelining), as
//! bench/smtp-relay's `feed.py` did but without one Python process limiting both servers.
//!
//! With `--starttls` the session upgrades to TLS (any certificate accepted: self-signed bench
//! certificates) and with `--auth-user` it authenticates with AUTH PLAIN, as a mail program
//! submitting on port 587 does. Every message has its own Subject and Message-ID.
//! Prints the number of accepted messages on stdout (what run.sh reads) and a `RESULT` line on
//! stderr; exits with an error when any message was refused.

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
}

const LINE: &str =
    "Kinh gui cac don vi truc thuoc: bao cao so lieu tuan nay theo mau dinh kem.\r\n";

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    if o.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    let body: Arc<str> = LINE.repeat((o.size / LINE.len()).max(1)).into();
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
    for i in 0..share {
        message.clear();
        message.extend_from_slice(
            format!(
                "From: <{from}>\r\nTo: <{to}>\r\nSubject: bench {index}-{i}\r\n\
                 Message-ID: <bench-{index}-{i}@feeder.bench>\r\n\
                 Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n\r\n",
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
