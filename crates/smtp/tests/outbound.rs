//! The outbound queue end to end, with nothing faked: our side is a `SqliteStore` with the
//! queue worker (`run_queue`); the far side is a second real congvu MX (`congvu_smtp::serve`)
//! on another loopback port with its own store and hosted domain; DNS is a real dnsmasq
//! child process serving the MX, A and DKIM TXT records; DKIM signatures are checked by
//! dkimpy (Python), which fetches the public keys from that dnsmasq.
//!
//! Needs `dnsmasq` (Debian dnsmasq-base) and Python with dkimpy and PyNaCl.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use congvu_core::SpecialUse;
use congvu_pipeline::Pipeline;
use congvu_smtp::outbound::{DkimAlgorithm, generate_dkim_key};
use congvu_smtp::{OutboundConfig, OutboundContext, SmtpConfig, SmtpContext, run_queue, serve};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, BlobStore, NewAccount, NewQueuedMessage, QueueStatus, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const NEAR: &str = "tinh.gov.vn";
const FAR: &str = "far.test";

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

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    socket.local_addr().expect("addr").port()
}

/// Starts dnsmasq with `records` (each a dnsmasq option such as `--mx-host=…`) and waits
/// until it answers.
fn start_dns(records: &[String]) -> Dns {
    let port = free_udp_port();
    let mut command = Command::new("dnsmasq");
    command
        .args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            &format!("--port={port}"),
        ])
        .args(records)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = command
        .spawn()
        .expect("dnsmasq (apt-get install dnsmasq-base)");
    let dns = Dns {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    // dnsmasq is ready when its TCP port accepts connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(dns.addr).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    dns
}

struct Side {
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobStore>,
    dir: tempfile::TempDir,
}

async fn open_side(domain: &str, locals: &[&str]) -> Side {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let blobs = Arc::new(
        FsBlobStore::open(&dir.path().join("blobs"))
            .await
            .expect("blobs"),
    );
    for local in locals {
        store
            .create_account(NewAccount {
                address: format!("{local}@{domain}"),
                display_name: local.to_string(),
                password_hash: "$argon2id$placeholder".into(),
                kind: AccountKind::Person,
                created_at: 0,
            })
            .await
            .expect("account");
    }
    Side { store, blobs, dir }
}

/// Serves `side` as the MX of `FAR` on `listener`.
fn serve_far(side: &Side, listener: TcpListener, shutdown: CancellationToken) {
    let ctx = Arc::new(SmtpContext {
        store: side.store.clone(),
        blobs: side.blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        tls: None,
        config: SmtpConfig {
            hostname: format!("mx.{FAR}"),
            hosted_domains: vec![FAR.to_string()],
            ..SmtpConfig::default()
        },
        limits: Default::default(),
    });
    tokio::spawn(serve(listener, ctx, shutdown));
}

/// Raw messages in the folder with `special` of `address`.
async fn messages(side: &Side, address: &str, special: SpecialUse) -> Vec<Vec<u8>> {
    let account = side
        .store
        .account_by_address(address)
        .await
        .expect("q")
        .expect("account");
    let folder = side
        .store
        .list_folders(account.id)
        .await
        .expect("folders")
        .into_iter()
        .find(|f| f.special_use == Some(special))
        .expect("folder");
    let uids: Vec<u32> = side
        .store
        .list_messages(folder.id)
        .await
        .expect("list")
        .iter()
        .map(|m| m.uid)
        .collect();
    let mut out = Vec::new();
    for record in side
        .store
        .fetch_records(folder.id, &uids)
        .await
        .expect("fetch")
    {
        out.push(side.blobs.get(&record.blob).await.expect("blob").to_vec());
    }
    out
}

async fn wait_for_messages(side: &Side, address: &str, n: usize, within: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + within;
    loop {
        let found = messages(side, address, SpecialUse::Inbox).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{address}: {} of {n} messages after {within:?}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outbound_config(dns: SocketAddr, smtp_port: u16) -> OutboundConfig {
    OutboundConfig {
        hostname: format!("mail.{NEAR}"),
        dns: Some(dns),
        smtp_port,
        retry_schedule: vec![Duration::from_secs(1)],
        poll_interval: Duration::from_millis(100),
        command_timeout: Duration::from_secs(10),
        ..OutboundConfig::default()
    }
}

fn start_queue(near: &Side, config: OutboundConfig, shutdown: CancellationToken) {
    let ctx = Arc::new(OutboundContext {
        store: near.store.clone(),
        blobs: near.blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        config,
    });
    tokio::spawn(run_queue(ctx, shutdown));
}

async fn enqueue(near: &Side, to: &str, subject: &str) -> i64 {
    let raw = format!(
        "From: Nguyễn Văn An <an@{NEAR}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0700\r\nMessage-ID: <{subject}@{NEAR}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Kính gửi quý cơ quan,\r\n.dòng bắt đầu bằng dấu chấm\r\n\r\nTrân trọng.\r\n"
    );
    let blob = near.blobs.put(raw.as_bytes()).await.expect("blob");
    near.store
        .enqueue(NewQueuedMessage {
            blob,
            mail_from: format!("an@{NEAR}"),
            recipients: vec![to.to_string()],
            created_at: chrono::Utc::now().timestamp(),
            submitted_by: Some(format!("an@{NEAR}")),
        })
        .await
        .expect("enqueue")
}

fn far_records() -> Vec<String> {
    vec![
        format!("--mx-host={FAR},mx.{FAR},10"),
        format!("--host-record=mx.{FAR},127.0.0.1"),
    ]
}

/// dnsmasq's form of a TXT record: the value cut into strings of at most 255 octets,
/// separated by commas (the argument is not parsed by a shell, so no quotes).
fn txt_record(name: &str, value: &str) -> String {
    let parts: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect();
    format!("--txt-record={name},{}", parts.join(","))
}

/// Verifies every DKIM-Signature of `message` with dkimpy, looking keys up at `dns`.
fn dkimpy_verify(dir: &Path, message: &[u8], dns: SocketAddr) -> String {
    let path = dir.join("delivered.eml");
    std::fs::write(&path, message).expect("write message");
    let script = r#"
import sys, dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = [sys.argv[2]]
r.port = int(sys.argv[3])
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    answer = r.resolve(name, 'TXT')
    return b''.join(b''.join(rd.strings) for rd in answer)
msg = open(sys.argv[1], 'rb').read()
import logging
logging.basicConfig(level=logging.DEBUG)
d = dkim.DKIM(msg, logger=logging.getLogger())
count = msg.count(b'DKIM-Signature:')
def check(i):
    try:
        return 'pass' if d.verify(idx=i, dnsfunc=dnsfunc) else 'fail'
    except dkim.ValidationError:
        return 'fail'
print(count, ' '.join(check(i) for i in range(count)))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(dns.ip().to_string())
        .arg(dns.port().to_string())
        .output()
        .expect("python3 with dkimpy (pip install dkimpy pynacl)");
    assert!(
        output.status.success(),
        "dkimpy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if result.contains("fail") {
        eprintln!("dkimpy log:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_to_the_mx_with_dkim_signatures_that_dkimpy_verifies() {
    let near = open_side(NEAR, &["an"]).await;
    let far = open_side(FAR, &["nhan"]).await;
    let keys_dir = near.dir.path().join("dkim");
    let ed = generate_dkim_key(&keys_dir, NEAR, "cv-ed", DkimAlgorithm::Ed25519).expect("ed");
    let rsa = generate_dkim_key(&keys_dir, NEAR, "cv-rsa", DkimAlgorithm::Rsa).expect("rsa");
    let mut records = far_records();
    records.push(txt_record(
        &format!("cv-ed._domainkey.{NEAR}"),
        &ed.dns_value(),
    ));
    records.push(txt_record(
        &format!("cv-rsa._domainkey.{NEAR}"),
        &rsa.dns_value(),
    ));
    let dns = start_dns(&records);

    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    serve_far(&far, listener, shutdown.clone());
    let mut config = outbound_config(dns.addr, port);
    config.dkim = congvu_smtp::load_dkim_keys(&keys_dir)
        .expect("load keys")
        .into_iter()
        .map(Arc::new)
        .collect();
    assert_eq!(config.dkim.len(), 2);
    let id = enqueue(&near, &format!("nhan@{FAR}"), "giao-ban").await;
    start_queue(&near, config, shutdown.clone());

    let delivered =
        wait_for_messages(&far, &format!("nhan@{FAR}"), 1, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&delivered[0]).to_string();
    assert!(text.contains("Subject: giao-ban"), "{text}");
    assert!(
        text.contains("\r\n.dòng bắt đầu bằng dấu chấm\r\n"),
        "dot-stuffing undone: {text}"
    );
    assert!(
        text.ends_with("Trân trọng.\r\n"),
        "body unchanged at the end: {text:?}"
    );
    assert_eq!(text.matches("DKIM-Signature:").count(), 2);
    assert_eq!(
        dkimpy_verify(near.dir.path(), &delivered[0], dns.addr),
        "2 pass pass"
    );

    // Finished messages leave the queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    while near.store.queue_entry(id).await.expect("entry").is_some() {
        assert!(Instant::now() < deadline, "delivered message still queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A tampered copy fails verification: the check above can fail.
    let tampered = String::from_utf8_lossy(&delivered[0]).replace("Trân trọng.", "Trân trọng!");
    assert_eq!(
        dkimpy_verify(near.dir.path(), tampered.as_bytes(), dns.addr),
        "2 fail fail"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_far_recipient_bounces_an_rfc3464_report_into_the_senders_inbox() {
    let near = open_side(NEAR, &["an"]).await;
    let far = open_side(FAR, &["nhan"]).await;
    let dns = start_dns(&far_records());
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    serve_far(&far, listener, shutdown.clone());
    let id = enqueue(&near, &format!("khongco@{FAR}"), "sai-dia-chi").await;
    start_queue(&near, outbound_config(dns.addr, port), shutdown.clone());

    let bounces = wait_for_messages(&near, &format!("an@{NEAR}"), 1, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&bounces[0]).to_string();
    assert!(
        text.contains("multipart/report; report-type=delivery-status"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Final-Recipient: rfc822; khongco@{FAR}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Remote-MTA: dns; mx.{FAR}")),
        "{text}"
    );
    assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1"), "{text}");
    assert!(
        text.contains("Subject: sai-dia-chi"),
        "original headers included: {text}"
    );
    assert!(!text.contains("Kính gửi"), "the body is not returned");
    let parsed = mail_parser::MessageParser::default()
        .parse(&bounces[0][..])
        .expect("parse");
    let human = parsed.body_text(0).expect("text part");
    assert!(human.contains("KHÔNG gửi được") && human.contains("could NOT be delivered"));
    assert!(
        messages(&far, &format!("nhan@{FAR}"), SpecialUse::Inbox)
            .await
            .is_empty()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while near.store.queue_entry(id).await.expect("entry").is_some() {
        assert!(Instant::now() < deadline, "failed message still queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No bounce of the bounce: the sender's INBOX holds exactly one notice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        messages(&near, &format!("an@{NEAR}"), SpecialUse::Inbox)
            .await
            .len(),
        1
    );
    assert!(near.store.list_queue().await.expect("list").is_empty());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_side_that_is_down_gets_the_message_once_it_is_back() {
    let near = open_side(NEAR, &["an"]).await;
    let far = open_side(FAR, &["nhan"]).await;
    let dns = start_dns(&far_records());
    // Reserve a port, then close it: connections are refused until the far side starts.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let shutdown = CancellationToken::new();
    let id = enqueue(&near, &format!("nhan@{FAR}"), "thu-lai").await;
    start_queue(&near, outbound_config(dns.addr, port), shutdown.clone());

    // At least two attempts fail and the message stays queued, pending, with the error.
    let deadline = Instant::now() + Duration::from_secs(20);
    let entry = loop {
        let entry = near
            .store
            .queue_entry(id)
            .await
            .expect("q")
            .expect("still queued");
        if entry.recipients[0].attempts >= 2 {
            break entry;
        }
        assert!(Instant::now() < deadline, "no retries: {entry:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = &entry.recipients[0];
    assert_eq!(r.status, QueueStatus::Pending);
    assert!(
        r.last_error.as_deref().is_some_and(|e| e.starts_with('4')),
        "{r:?}"
    );
    assert!(
        messages(&near, &format!("an@{NEAR}"), SpecialUse::Inbox)
            .await
            .is_empty(),
        "no bounce for a delay"
    );

    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind");
    serve_far(&far, listener, shutdown.clone());
    let delivered =
        wait_for_messages(&far, &format!("nhan@{FAR}"), 1, Duration::from_secs(20)).await;
    assert!(String::from_utf8_lossy(&delivered[0]).contains("Subject: thu-lai"));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_warning_is_sent_once_and_expiry_bounces() {
    let near = open_side(NEAR, &["an"]).await;
    let dns = start_dns(&far_records());
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let shutdown = CancellationToken::new();
    let mut config = outbound_config(dns.addr, port);
    config.delay_warning_after = Duration::from_secs(0);
    config.max_age = Duration::from_secs(3);
    enqueue(&near, &format!("nhan@{FAR}"), "het-han").await;
    start_queue(&near, config, shutdown.clone());

    let notices = wait_for_messages(&near, &format!("an@{NEAR}"), 2, Duration::from_secs(20)).await;
    let texts: Vec<String> = notices
        .iter()
        .map(|n| String::from_utf8_lossy(n).to_string())
        .collect();
    assert!(texts[0].contains("Action: delayed"), "{}", texts[0]);
    assert!(texts[0].contains("Will-Retry-Until:"), "{}", texts[0]);
    assert!(
        texts[1].contains("Action: failed\r\nStatus: 4.4.7"),
        "{}",
        texts[1]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        messages(&near, &format!("an@{NEAR}"), SpecialUse::Inbox)
            .await
            .len(),
        2,
        "one warning, one failure"
    );
    assert!(near.store.list_queue().await.expect("list").is_empty());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_without_mail_is_a_permanent_failure() {
    let near = open_side(NEAR, &["an"]).await;
    // nxdomain.test does not exist at all (dnsmasq answers NXDOMAIN for unknown names with
    // --no-resolv); nomx.test has an address but refuses mail with a null MX (RFC 7505).
    let dns = start_dns(&[
        "--mx-host=nomx.test,.,0".to_string(),
        "--host-record=nomx.test,127.0.0.1".to_string(),
        "--local=/test/".to_string(),
    ]);
    let shutdown = CancellationToken::new();
    enqueue(&near, "ai@nxdomain.test", "khong-ton-tai").await;
    enqueue(&near, "ai@nomx.test", "null-mx").await;
    start_queue(&near, outbound_config(dns.addr, 25), shutdown.clone());
    let notices = wait_for_messages(&near, &format!("an@{NEAR}"), 2, Duration::from_secs(20)).await;
    let all: String = notices
        .iter()
        .map(|n| String::from_utf8_lossy(n).to_string())
        .collect();
    assert!(
        all.contains(
            "Final-Recipient: rfc822; ai@nxdomain.test\r\nAction: failed\r\nStatus: 5.1.2"
        ),
        "{all}"
    );
    assert!(
        all.contains("Final-Recipient: rfc822; ai@nomx.test\r\nAction: failed\r\nStatus: 5.1.10"),
        "{all}"
    );
    shutdown.cancel();
}

/// A TCP relay in front of the far MX that counts the connections it accepts: how many SMTP
/// sessions the queue opened, seen from the receiving side.
async fn counting_proxy(
    to: SocketAddr,
    shutdown: CancellationToken,
) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => return,
                },
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_to_one_destination_share_few_sessions() {
    const MESSAGES: usize = 12;
    let near = open_side(NEAR, &["an"]).await;
    let far = open_side(FAR, &["nhan"]).await;
    let dns = start_dns(&far_records());
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let far_addr = listener.local_addr().expect("addr");
    serve_far(&far, listener, shutdown.clone());
    let (proxy_port, sessions) = counting_proxy(far_addr, shutdown.clone()).await;

    let mut ids = Vec::new();
    for i in 0..MESSAGES {
        ids.push(enqueue(&near, &format!("nhan@{FAR}"), &format!("reuse-{i}")).await);
    }
    let mut config = outbound_config(dns.addr, proxy_port);
    config.per_domain_concurrency = 2;
    start_queue(&near, config, shutdown.clone());

    let delivered = wait_for_messages(
        &far,
        &format!("nhan@{FAR}"),
        MESSAGES,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(delivered.len(), MESSAGES);
    for i in 0..MESSAGES {
        let subject = format!("Subject: reuse-{i}\r\n");
        assert_eq!(
            delivered
                .iter()
                .filter(|m| String::from_utf8_lossy(m).contains(&subject))
                .count(),
            1,
            "reuse-{i} delivered exactly once"
        );
    }
    // Two deliveries at a time, each session handed to the next message: at most two
    // sessions for twelve messages (one per message before connection reuse).
    let opened = sessions.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=2).contains(&opened),
        "{opened} sessions for {MESSAGES} messages"
    );
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(10);
        while near.store.queue_entry(id).await.expect("entry").is_some() {
            assert!(Instant::now() < deadline, "delivered message still queued");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    shutdown.cancel();
}
