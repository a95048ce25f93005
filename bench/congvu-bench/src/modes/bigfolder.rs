//! `bigfolder`: the four operations a client runs on a large folder, each timed from its first
//! byte sent to its tagged OK, repeated K times after one untimed warm-up round (both servers
//! build caches on first touch; what matters to a user is every later open).
//!
//! Each operation also reports its result count (EXISTS, FETCH responses, UIDs found) so the
//! script can check that both servers answered over the same data.

use crate::Server;
use crate::imap::{self, Conn, Reply};
use crate::stats::percentile;
use anyhow::{Result, bail};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Opts {
    #[arg(long, default_value_t = 1)]
    user: u32,
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// Timed repetitions of each operation.
    #[arg(long, default_value_t = 10)]
    repeat: usize,
    /// The SEARCH TEXT needle.
    #[arg(long, default_value = "nguyen")]
    needle: String,
}

/// One timed operation: the command and how to count its answer.
struct Op {
    name: &'static str,
    command: String,
    count: fn(&Reply) -> usize,
}

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    let mut conn = Conn::login(
        &server.target(),
        &server.login_name(o.user),
        &server.password,
    )
    .await?;
    let folder = imap::quote(&o.folder);
    let ops = [
        Op {
            name: "select",
            command: format!("SELECT {folder}"),
            count: |r| r.last_numbered("EXISTS").unwrap_or(0) as usize,
        },
        Op {
            name: "fetch_flags",
            command: "UID FETCH 1:* (FLAGS)".into(),
            count: |r| r.count_numbered("FETCH"),
        },
        Op {
            name: "search_text",
            command: format!("UID SEARCH TEXT {}", imap::quote(&o.needle)),
            count: |r| r.numbers("SEARCH").len(),
        },
        Op {
            name: "sort_date",
            command: "UID SORT (DATE) UTF-8 ALL".into(),
            count: |r| r.numbers("SORT").len(),
        },
    ];
    // Warm-up round (also leaves the folder selected for the others).
    for op in &ops {
        let reply = conn.command(&op.command).await?;
        if !reply.ok() {
            bail!("{}: {}", op.command, reply.status);
        }
    }
    for op in &ops {
        let mut times: Vec<Duration> = Vec::with_capacity(o.repeat);
        let mut count = 0;
        for _ in 0..o.repeat {
            let t = Instant::now();
            let reply = conn.command(&op.command).await?;
            times.push(t.elapsed());
            if !reply.ok() {
                bail!("{}: {}", op.command, reply.status);
            }
            count = (op.count)(&reply);
        }
        println!(
            "RESULT op={} count={count} runs={} median_ms={:.2} p95_ms={:.2} min_ms={:.2}",
            op.name,
            o.repeat,
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 0.0),
        );
    }
    conn.command("LOGOUT").await.ok();
    Ok(())
}
