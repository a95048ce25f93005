//! Sender authentication against a real DNS server: a dnsmasq child process serving the SPF
//! and DMARC records of `good.test` (every other name under `.test` is NXDOMAIN). Shows that
//! answers land in the check's own caches and that a second message from the same domain is
//! decided from them, even once the DNS server is gone.
//!
//! Needs `dnsmasq` (Debian dnsmasq-base).

use congvu_pipeline::checks::sender_auth::SenderAuth;
use congvu_pipeline::policy::SenderAuthPolicy;
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
            // Local records are served with TTL 0 (never cacheable) unless given one.
            "--local-ttl=300",
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

async fn check(auth: &SenderAuth, raw: &[u8]) -> Outcome {
    let index = congvu_wire::mime::parse_message(raw);
    let rcpt = vec!["binh@example.gov.vn".to_string()];
    let ctx = MessageContext {
        source: Source::Mx,
        remote_ip: Some("127.0.0.1".parse().unwrap()),
        helo: Some("mx.good.test"),
        mail_from: "an@good.test",
        rcpt_to: &rcpt,
        authenticated: None,
        raw,
        index: &index,
    };
    auth.on_data(&MessageView::new(&ctx)).await
}

#[tokio::test]
async fn answers_are_cached_for_the_next_message() {
    let mut dns = start_dns(&[
        "--txt-record=good.test,v=spf1 ip4:127.0.0.1 -all",
        "--txt-record=_dmarc.good.test,v=DMARC1; p=reject; psd=n",
    ]);
    let auth = SenderAuth::new(SenderAuthPolicy {
        dns: dns.addr.to_string(),
        authserv_id: "mail.example.gov.vn".into(),
        timeout_seconds: 5,
        ..SenderAuthPolicy::default()
    });
    let raw = b"From: an@good.test\r\nTo: binh@example.gov.vn\r\nSubject: x\r\n\r\nhi\r\n";
    let first = check(&auth, raw).await;
    let Outcome::AddHeaders(headers) = &first else {
        panic!("expected delivery, got {first:?}");
    };
    assert!(headers[0].starts_with("Authentication-Results: mail.example.gov.vn;"));
    assert!(headers[0].contains("spf=pass"), "{}", headers[0]);
    assert!(headers[0].contains("dmarc=pass"), "{}", headers[0]);
    assert!(
        auth.caches().txt.len() >= 2,
        "the SPF and DMARC records are kept in the shared cache"
    );

    // The DNS server goes away: the same domain's next message is decided from the cache.
    dns.child.kill().unwrap();
    dns.child.wait().unwrap();
    assert_eq!(check(&auth, raw).await, first);
}
