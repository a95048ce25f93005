//! `mixed`: N clients, each logged in to its own mailbox (user001, user002, …, as staff are),
//! doing for D seconds what a mail client does, one command at a time:
//!
//! | weight | command |
//! |---|---|
//! | 25 | `FETCH n-49:n (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (...)])`: the list view |
//! | 20 | `FETCH k (BODY[])` of a random message: reading one (sets \Seen) |
//! | 15 | `STORE k +FLAGS/-FLAGS (\Flagged)` |
//! | 10 | `UID SEARCH UNSEEN` or `UID SEARCH SUBJECT "Invoice"` |
//! | 15 | `NOOP` (a client polling) |
//! | 5  | `SELECT` again (a client switching back to the folder) |
//! | 5  | `APPEND` of a message (a draft or a copy to Sent) |
//! | 5  | `STORE last +FLAGS (\Deleted)` + `EXPUNGE`: deleting one (counted as two operations) |
//!
//! APPEND and EXPUNGE balance so the folder keeps its size. The random sequence is seeded per
//! client, so both servers get the same commands in the same order. Throughput is every
//! tagged OK per second across clients; latencies are per command.

use crate::Server;
use crate::imap::{self, Conn};
use crate::modes::populate::{message, read_mbox};
use crate::stats::percentile;
use anyhow::{Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Opts {
    #[arg(long, default_value_t = 50)]
    clients: u32,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    first_user: u32,
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// Messages to APPEND come from this mbox.
    #[arg(long)]
    mbox: std::path::PathBuf,
    /// Skip mbox messages larger than this (bytes) for APPEND.
    #[arg(long, default_value_t = 65536)]
    max_size: usize,
    /// Run one kind of command only (list, read, flag, search, noop, select, append, expunge):
    /// with the server's CPU time before and after, the cost of each kind.
    #[arg(long)]
    only: Option<String>,
}

#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    by_kind: [u64; 8],
    /// Latencies per kind, so a slow command shows which one it is.
    kind_latencies: [Vec<Duration>; 8],
}

const KINDS: [&str; 8] = [
    "list", "read", "flag", "search", "noop", "select", "append", "expunge",
];

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    let mbox = Arc::new(read_mbox(&o.mbox, o.max_size)?);
    let target = server.target();
    // Log everyone in first, so logins (Argon2 on congvu, crypt on Dovecot) are not timed.
    let mut conns = Vec::new();
    for i in 0..o.clients {
        let mut conn = Conn::login(
            &target,
            &server.login_name(o.first_user + i),
            &server.password,
        )
        .await?;
        let reply = conn
            .command(&format!("SELECT {}", imap::quote(&o.folder)))
            .await?;
        if !reply.ok() {
            bail!("SELECT: {}", reply.status);
        }
        let exists = reply.last_numbered("EXISTS").unwrap_or(0);
        conns.push((conn, exists));
    }
    let only = match &o.only {
        Some(name) => match KINDS.iter().position(|k| k == name) {
            Some(k) => Some(k),
            None => bail!("--only {name}: not one of {}", KINDS.join(", ")),
        },
        None => None,
    };
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (conn, exists)) in conns.into_iter().enumerate() {
        let (mbox, folder) = (mbox.clone(), o.folder.clone());
        tasks.spawn(client(conn, exists, i as u64, deadline, mbox, folder, only));
    }
    let mut all = Tally::default();
    while let Some(t) = tasks.join_next().await {
        let t = t??;
        all.ops += t.ops;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.latencies.extend(t.latencies);
        for (k, latencies) in t.kind_latencies.into_iter().enumerate() {
            all.by_kind[k] += t.by_kind[k];
            all.kind_latencies[k].extend(latencies);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let kinds: Vec<String> = KINDS
        .iter()
        .zip(all.by_kind)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    println!(
        "RESULT mode=mixed clients={} seconds={secs:.1} ops={} ops_per_s={:.1} errors={} p50_ms={:.2} p95_ms={:.2} p99_ms={:.2} {}",
        o.clients,
        all.ops,
        all.ops as f64 / secs,
        all.errors,
        percentile(&all.latencies, 50.0),
        percentile(&all.latencies, 95.0),
        percentile(&all.latencies, 99.0),
        kinds.join(" ")
    );
    for (k, latencies) in KINDS.iter().zip(&all.kind_latencies) {
        println!(
            "  {k:8} n={:6} p50_ms={:7.2} p95_ms={:7.2}",
            latencies.len(),
            percentile(latencies, 50.0),
            percentile(latencies, 95.0)
        );
    }
    if let Some(e) = all.first_error {
        println!("first error: {e}");
    }
    Ok(())
}

async fn client(
    mut conn: Conn,
    mut exists: u32,
    seed: u64,
    deadline: Instant,
    mbox: Arc<Vec<Vec<u8>>>,
    folder: String,
    only: Option<usize>,
) -> Result<Tally> {
    let mut rng = StdRng::seed_from_u64(0xC0DE ^ seed);
    let mut t = Tally::default();
    let quoted = imap::quote(&folder);
    let mut appended = 1_000_000 + seed as usize * 100_000;
    while Instant::now() < deadline {
        let roll = rng.random_range(0..100u32);
        let kind = match roll {
            0..25 => 0,
            25..45 => 1,
            45..60 => 2,
            60..70 => 3,
            70..85 => 4,
            85..90 => 5,
            90..95 => 6,
            _ => 7,
        };
        let kind = only.unwrap_or(kind);
        let pick = |rng: &mut StdRng, exists: u32| rng.random_range(1..=exists.max(1));
        let commands: Vec<String> = match kind {
            0 => {
                let hi = exists.max(1);
                let lo = hi.saturating_sub(49).max(1);
                vec![format!(
                    "FETCH {lo}:{hi} (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"
                )]
            }
            1 => vec![format!("FETCH {} (BODY[])", pick(&mut rng, exists))],
            2 => {
                let op = if rng.random_bool(0.5) { "+" } else { "-" };
                vec![format!(
                    "STORE {} {op}FLAGS (\\Flagged)",
                    pick(&mut rng, exists)
                )]
            }
            3 => vec![if rng.random_bool(0.5) {
                "UID SEARCH UNSEEN".to_string()
            } else {
                "UID SEARCH SUBJECT \"Invoice\"".to_string()
            }],
            4 => vec!["NOOP".to_string()],
            5 => vec![format!("SELECT {quoted}")],
            6 => Vec::new(), // APPEND, below
            _ => vec![
                format!("STORE {} +FLAGS.SILENT (\\Deleted)", exists.max(1)),
                "EXPUNGE".to_string(),
            ],
        };
        if kind == 6 {
            let (m, _) = message(&mbox, 0, appended);
            appended += 1;
            let start = Instant::now();
            let reply = conn.append(&folder, "\\Seen", &m).await?;
            record(&mut t, kind, start.elapsed(), reply.ok(), &reply.status);
            track(&mut exists, &reply.untagged);
            continue;
        }
        if kind == 7 && exists == 0 {
            continue;
        }
        for command in commands {
            let start = Instant::now();
            let reply = conn.command(&command).await?;
            record(&mut t, kind, start.elapsed(), reply.ok(), &reply.status);
            track(&mut exists, &reply.untagged);
            if !reply.ok() {
                break;
            }
        }
    }
    conn.command("LOGOUT").await.ok();
    Ok(t)
}

/// Follows the message count through EXISTS and EXPUNGE responses.
fn track(exists: &mut u32, untagged: &[imap::Untagged]) {
    for u in untagged {
        if let Some(n) = imap::numbered(u, "EXISTS") {
            *exists = n;
        } else if imap::numbered(u, "EXPUNGE").is_some() {
            *exists = exists.saturating_sub(1);
        }
    }
}

fn record(t: &mut Tally, kind: usize, took: Duration, ok: bool, status: &str) {
    t.latencies.push(took);
    t.kind_latencies[kind].push(took);
    if ok {
        t.ops += 1;
        t.by_kind[kind] += 1;
    } else {
        t.errors += 1;
        if t.first_error.is_none() {
            t.first_error = Some(format!("{}: {status}", KINDS[kind]));
        }
    }
}
