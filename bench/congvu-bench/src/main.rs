//! `congvu-bench`: the IMAP load client behind bench/imap. It speaks plain IMAP (and IMAPS for
//! the IDLE test), so one run drives congvu and the Dovecot peer with exactly the same commands.
//!
//! Modes:
//! - `populate`: APPEND messages from an mbox into a folder, pipelined with LITERAL+ (RFC 7888)
//!   over a few connections; every message gets an `X-Bench-Seq` header so none are identical
//!   (congvu stores identical bodies once, which would flatter it).
//! - `bigfolder`: times SELECT, `UID FETCH 1:* (FLAGS)`, `UID SEARCH TEXT`, `UID SORT (DATE)`.
//! - `mixed`: many clients, each on its own mailbox, doing a mail client's mix for a while.
//! - `idle`: opens many TLS connections that LOGIN, SELECT INBOX and IDLE, and holds them.
//! - `smtp-feed`: SMTP submission load for bench/smtp-relay (plain, or STARTTLS + AUTH PLAIN).
//!
//! Every mode prints `RESULT key=value ...` lines that the scripts in bench/imap read.

mod imap;
mod modes;
mod smtp;
mod stats;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "IMAP load client for congvu and Dovecot benchmarks")]
struct Cli {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
pub struct Server {
    /// host:port of the IMAP server.
    #[arg(long, global = true, default_value = "127.0.0.1:143")]
    addr: String,
    /// Implicit TLS (IMAPS); any certificate is accepted.
    #[arg(long, global = true)]
    tls: bool,
    /// Logins are `user%03d@DOMAIN`.
    #[arg(long, global = true, default_value = "example.gov.vn")]
    domain: String,
    #[arg(long, global = true, default_value = "Passw0rd!x")]
    password: String,
}

impl Server {
    pub fn target(&self) -> imap::Target {
        imap::Target {
            addr: self.addr.clone(),
            tls: self.tls.then(imap::tls_config),
        }
    }
    pub fn login_name(&self, user: u32) -> String {
        format!("user{user:03}@{}", self.domain)
    }
}

#[derive(Subcommand)]
enum Mode {
    /// APPEND COUNT messages (cycled from MBOX) into FOLDER of each of USERS users.
    Populate(modes::populate::Opts),
    /// Time SELECT, UID FETCH 1:* (FLAGS), UID SEARCH TEXT, UID SORT (DATE) on one folder.
    Bigfolder(modes::bigfolder::Opts),
    /// Concurrent clients doing a realistic mix of commands.
    Mixed(modes::mixed::Opts),
    /// Hold many IDLE connections open.
    Idle(modes::idle::Opts),
    /// SMTP: COUNT messages over parallel sessions (bench/smtp-relay), optional STARTTLS + AUTH.
    SmtpFeed(modes::smtp_feed::Opts),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.mode {
            Mode::Populate(o) => modes::populate::run(&cli.server, o).await,
            Mode::Bigfolder(o) => modes::bigfolder::run(&cli.server, o).await,
            Mode::Mixed(o) => modes::mixed::run(&cli.server, o).await,
            Mode::Idle(o) => modes::idle::run(&cli.server, o).await,
            Mode::SmtpFeed(o) => modes::smtp_feed::run(&cli.server, o).await,
        }
    })
}
