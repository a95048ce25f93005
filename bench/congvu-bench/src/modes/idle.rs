//! `idle`: opens N connections (TLS with `--tls`) that each LOGIN, SELECT INBOX and IDLE
//! (RFC 2177), and holds them open. When all are idling it writes `--ready-file` and prints a
//! RESULT line; the script then measures the server's memory and stops this process.
//!
//! Logins are spread over `--users` mailboxes (user001 …), because Dovecot limits connections
//! per user and IP (200 in the peer's configuration).

use crate::Server;
use crate::imap::Conn;
use anyhow::{Result, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Opts {
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    #[arg(long, default_value_t = 100)]
    users: u32,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Written (with the count) once every connection is idling.
    #[arg(long)]
    ready_file: Option<std::path::PathBuf>,
    /// Hold this long after ready, then log out and exit (0: until killed).
    #[arg(long, default_value_t = 0)]
    hold_seconds: u64,
}

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    let target = server.target();
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut openers = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency.max(1) {
        let (target, next, password) = (target.clone(), next.clone(), server.password.clone());
        let logins: Vec<String> = (1..=o.users.max(1)).map(|u| server.login_name(u)).collect();
        let total = o.connections;
        openers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(mine);
                }
                let mut conn = Conn::login(&target, &logins[i % logins.len()], &password).await?;
                let reply = conn.command("SELECT INBOX").await?;
                if !reply.ok() {
                    bail!("SELECT INBOX: {}", reply.status);
                }
                let tag = conn.idle().await?;
                mine.push((conn, tag));
            }
        });
    }
    let mut held = Vec::with_capacity(o.connections);
    while let Some(r) = openers.join_next().await {
        held.extend(r??);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT mode=idle connections={} tls={} open_seconds={secs:.1}",
        held.len(),
        server.tls
    );
    if let Some(path) = &o.ready_file {
        std::fs::write(path, format!("{}\n", held.len()))?;
    }
    if o.hold_seconds == 0 {
        // Until the script stops us: the connections must stay open while it measures.
        tokio::signal::ctrl_c().await?;
    } else {
        tokio::time::sleep(Duration::from_secs(o.hold_seconds)).await;
    }
    for (conn, tag) in &mut held {
        if conn.done(tag).await.is_ok() {
            conn.command("LOGOUT").await.ok();
        }
    }
    Ok(())
}
