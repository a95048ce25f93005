//! What the policy pipeline costs per message in CPU instructions (issue 6), without a server,
//! SMTP or the store around it: builds the message `bench/smtp-pipeline` sends (a text part and
//! the given files, base64, multipart/mixed, as `congvu-bench smtp-feed --attach` writes it),
//! then runs `congvu_wire::mime::parse_message` (what delivery indexes) and `Pipeline::check`
//! on it COUNT times, as an MX message from 127.0.0.1.
//!
//! Wall time on a shared machine is noise; count instructions instead, with two counts so the
//! start-up (and the first message's DNS lookups) cancels out:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p pipeline_cost --count 1   FILES…
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p pipeline_cost --count 101 FILES…
//! (instructions of the second − of the first) / 100 = instructions per message
//! ```
//!
//! Options: `--dns ADDR:PORT` turns on sender authentication through that server (e.g. the
//! dnsmasq of `bench/smtp-pipeline`, which publishes sender.test's SPF and DMARC records);
//! `--clamd ADDR:PORT` turns on the antivirus stage; `--text BYTES` sizes the text part
//! (default 10,240 as the benchmark). The spam score runs with a Bayes source that was taught
//! nothing, like the benchmark's fresh data directory.

use async_trait::async_trait;
use base64::Engine;
use congvu_pipeline::checks::spam::{BayesSource, Taught};
use congvu_pipeline::{MessageContext, Pipeline, Policy, Source};
use std::sync::Arc;

const LINE: &str =
    "Kinh gui cac don vi truc thuoc: bao cao so lieu tuan nay theo mau dinh kem.\r\n";
const BOUNDARY: &str = "=_congvu-bench-feed";

/// A domain nobody taught: what a fresh installation's store answers.
struct Untaught;

#[async_trait]
impl BayesSource for Untaught {
    async fn taught(
        &self,
        _domain: &str,
        _mailbox: Option<&str>,
        _tokens: &[i64],
    ) -> Result<(Taught, Option<Taught>), String> {
        Ok((Taught::default(), None))
    }

    async fn domain_totals(&self, _domain: &str) -> Result<Option<(u64, u64)>, String> {
        Ok(Some((0, 0)))
    }
}

struct Options {
    count: usize,
    dns: Option<String>,
    clamd: Option<String>,
    text: usize,
    files: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        count: 100,
        dns: None,
        clamd: None,
        text: 10_240,
        files: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--count" => o.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--text" => o.text = value()?.parse().map_err(|e| format!("--text: {e}"))?,
            "--dns" => o.dns = Some(value()?),
            "--clamd" => o.clamd = Some(value()?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            file => o.files.push(file.to_string()),
        }
    }
    Ok(o)
}

/// The benchmark's message, with the trace fields an MX delivery puts on top.
fn message(o: &Options) -> Result<Vec<u8>, String> {
    let mut m = format!(
        "Return-Path: <bench@sender.test>\r\n\
         Received: from feeder.bench (localhost [127.0.0.1])\r\n\tby localhost with ESMTP id X1;\r\n\
         \tMon, 23 Nov 2026 10:00:01 +0700\r\n\
         From: <bench@sender.test>\r\nTo: <user001@example.gov.vn>\r\nSubject: bench 0-0\r\n\
         Message-ID: <bench-0-0@feeder.bench>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n--{BOUNDARY}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}",
        LINE.repeat((o.text / LINE.len()).max(1))
    );
    for path in &o.files {
        let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let kind = match name.rsplit('.').next() {
            Some("pdf") => "application/pdf",
            Some("zip") => "application/zip",
            _ => "application/octet-stream",
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        m.push_str(&format!(
            "\r\n--{BOUNDARY}\r\nContent-Type: {kind}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}",
            lines.join("\r\n")
        ));
    }
    m.push_str(&format!("\r\n--{BOUNDARY}--\r\n"));
    Ok(m.into_bytes())
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pipeline_cost: {e}");
            std::process::exit(2);
        }
    };
    let raw = match message(&o) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("pipeline_cost: {e}");
            std::process::exit(2);
        }
    };
    let mut policy = Policy::default();
    policy.sender_auth.enabled = o.dns.is_some();
    policy.sender_auth.dns = o.dns.clone().unwrap_or_default();
    policy.antivirus.clamd = o.clamd.clone().unwrap_or_default();
    let pipeline = Pipeline::from_policy_with_bayes(&policy, Arc::new(Untaught));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pipeline_cost: runtime: {e}");
            std::process::exit(1);
        }
    };
    let rcpt = vec!["user001@example.gov.vn".to_string()];
    runtime.block_on(async {
        for i in 0..o.count {
            let index = congvu_wire::mime::parse_message(&raw);
            let verdict = pipeline
                .check(&MessageContext {
                    source: Source::Mx,
                    remote_ip: Some([127, 0, 0, 1].into()),
                    helo: Some("feeder.bench"),
                    mail_from: "bench@sender.test",
                    rcpt_to: &rcpt,
                    authenticated: None,
                    raw: &raw,
                    index: &index,
                })
                .await;
            if i == 0 {
                println!(
                    "message: {} bytes; checks: {:?}",
                    raw.len(),
                    pipeline.check_names()
                );
                println!("first verdict: {verdict:?}");
            }
        }
    });
}
