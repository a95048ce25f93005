//! The spam score's DNS block lists (RFC 5782) against a real DNS server: a dnsmasq child
//! process serving two lists under `.test` (every other name there is NXDOMAIN).
//!
//! Needs `dnsmasq` (Debian dnsmasq-base).

use congvu_pipeline::checks::spam::Spam;
use congvu_pipeline::policy::SpamPolicy;
use congvu_pipeline::{Check, MessageContext, MessageView, Outcome, Source};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dnsmasq child process, killed (by its own handle) when dropped.
struct Dns {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dns(records: &[&str]) -> Dns {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("udp bind")
        .port();
    let child = Command::new("dnsmasq")
        .args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--local=/test/",
            &format!("--port={port}"),
        ])
        .args(records)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (apt-get install dnsmasq-base)");
    let dns = Dns {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(dns.addr).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    dns
}

const LETTER: &[u8] = "From: vanphong@ubnd.example\r\nTo: binh@example.gov.vn\r\n\
    Subject: Giấy mời họp\r\nDate: Mon, 23 Nov 2026 08:00:00 +0700\r\n\
    Message-ID: <1@ubnd.example>\r\n\r\nKính mời đồng chí dự họp.\r\n"
    .as_bytes();

async fn score_from(spam: &Spam, ip: &str) -> Outcome {
    let index = congvu_wire::mime::parse_message(LETTER);
    let rcpt = vec!["binh@example.gov.vn".to_string()];
    let ctx = MessageContext {
        source: Source::Mx,
        remote_ip: Some(ip.parse().unwrap()),
        helo: Some("mx.example"),
        mail_from: "vanphong@ubnd.example",
        rcpt_to: &rcpt,
        authenticated: None,
        raw: LETTER,
        index: &index,
    };
    spam.on_data(&MessageView::new(&ctx)).await
}

fn status(outcome: &Outcome) -> String {
    match outcome {
        Outcome::AddHeaders(h) | Outcome::Junk(h) => h
            .iter()
            .find(|l| l.starts_with("X-Spam-Status:"))
            .cloned()
            .unwrap_or_default(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn listed_addresses_score_per_list_and_error_codes_do_not() {
    let dns = start_dns(&[
        // 127.0.0.2 is on both lists, 127.0.0.3 on one; for 127.0.0.4 the list answers with
        // its "query refused" code (127.255.255.254), which is no listing.
        "--host-record=2.0.0.127.bl-a.test,127.0.0.2",
        "--host-record=2.0.0.127.bl-b.test,127.0.0.4",
        "--host-record=3.0.0.127.bl-a.test,127.0.0.2",
        "--host-record=4.0.0.127.bl-a.test,127.255.255.254",
    ]);
    let spam = Spam::new(
        SpamPolicy {
            dnsbl: vec!["bl-a.test".into(), "bl-b.test.".into()],
            dns: dns.addr.to_string(),
            ..SpamPolicy::default()
        },
        None,
    );
    let twice = score_from(&spam, "127.0.0.2").await;
    assert!(matches!(twice, Outcome::Junk(_)), "{twice:?}");
    assert!(
        status(&twice).contains("tests=RCVD_IN_DNSBL=6"),
        "{}",
        status(&twice)
    );
    let once = score_from(&spam, "127.0.0.3").await;
    assert!(matches!(once, Outcome::AddHeaders(_)), "{once:?}");
    assert!(
        status(&once).contains("tests=RCVD_IN_DNSBL=3"),
        "{}",
        status(&once)
    );
    for clean in ["127.0.0.4", "127.0.0.1", "::1"] {
        let outcome = score_from(&spam, clean).await;
        assert!(
            status(&outcome).contains("tests=none"),
            "{clean}: {}",
            status(&outcome)
        );
    }
    // A list that cannot be reached scores nothing and refuses nothing.
    drop(dns);
    let outcome = score_from(&spam, "127.0.0.2").await;
    assert!(
        status(&outcome).contains("tests=none"),
        "{}",
        status(&outcome)
    );
}
