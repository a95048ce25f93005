//! Authenticated TLS towards MX hosts: DANE (RFC 7672) and MTA-STS (RFC 8461), through the
//! real queue worker (`run_queue`) delivering to a real congvu MX that offers STARTTLS.
//!
//! DNS is a small authoritative responder written here (it must set the DNSSEC AD bit, which
//! dnsmasq does not do for local records); the MTA-STS policy is served by a tiny HTTPS server
//! (tokio + rustls) with a certificate from a test CA (rcgen) passed as `mta_sts_ca_file`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use congvu_core::SpecialUse;
use congvu_pipeline::Pipeline;
use congvu_smtp::{OutboundConfig, OutboundContext, SmtpConfig, SmtpContext, run_queue, serve};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, BlobStore, NewAccount, NewQueuedMessage, QueueStatus, Store};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_resolver::proto::rr::rdata::{A, MX, TLSA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

const NEAR: &str = "tinh.gov.vn";
const FAR: &str = "far.test";
const MX_HOST: &str = "mx.far.test";

// --- a DNS responder that signs nothing but says AD=1 --------------------------------------

type Zone = HashMap<(String, RecordType), Vec<RData>>;

/// Answers from `zone` with the AD bit set (as a validating resolver would for a signed zone);
/// names not in the zone get NXDOMAIN, known names without the type NOERROR/NODATA.
async fn start_dns(zone: Zone, shutdown: CancellationToken) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = socket.recv_from(&mut buf) => match r { Ok(r) => r, Err(_) => return },
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.recursion_desired = query.metadata.recursion_desired;
            answer.metadata.recursion_available = true;
            answer.metadata.authentic_data = true;
            let Some(q) = query.queries.first() else {
                continue;
            };
            answer.add_query(q.clone());
            let name = q.name().to_ascii().to_ascii_lowercase();
            let name = name.trim_end_matches('.').to_string();
            match zone.get(&(name.clone(), q.query_type())) {
                Some(rdatas) => {
                    for rdata in rdatas {
                        answer.add_answer(Record::from_rdata(q.name().clone(), 60, rdata.clone()));
                    }
                }
                None if zone.keys().any(|(n, _)| *n == name) => {}
                None => answer.metadata.response_code = ResponseCode::NXDomain,
            }
            if let Ok(bytes) = answer.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

fn base_zone() -> Zone {
    let mut zone = Zone::new();
    zone.insert(
        (FAR.into(), RecordType::MX),
        vec![RData::MX(MX::new(
            10,
            Name::from_ascii(format!("{MX_HOST}.")).expect("name"),
        ))],
    );
    zone.insert(
        (MX_HOST.into(), RecordType::A),
        vec![RData::A(A(Ipv4Addr::LOCALHOST))],
    );
    zone
}

// --- certificates ----------------------------------------------------------------------------

struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

fn test_ca() -> TestCa {
    let key = rcgen::KeyPair::generate().expect("ca key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "congvu test CA");
    let cert = params.self_signed(&key).expect("ca cert");
    TestCa {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A leaf certificate for `name`: signed by `ca`, or self-signed.
fn leaf(name: &str, ca: Option<&TestCa>) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).expect("sign"),
        None => params.self_signed(&key).expect("self-sign"),
    };
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config"),
    )
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo: a `3 1 1` TLSA record's data.
fn spki_sha256(cert: &CertificateDer<'_>) -> Vec<u8> {
    let parsed = webpki::EndEntityCert::try_from(cert).expect("parse cert");
    aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        parsed.subject_public_key_info().as_ref(),
    )
    .as_ref()
    .to_vec()
}

// --- the two mail systems --------------------------------------------------------------------

struct Side {
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobStore>,
    dir: tempfile::TempDir,
}

async fn open_side(domain: &str, local: &str) -> Side {
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
    Side { store, blobs, dir }
}

/// The far MX with STARTTLS offered with `tls`; returns its port.
async fn serve_far(
    side: &Side,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let ctx = Arc::new(SmtpContext {
        store: side.store.clone(),
        blobs: side.blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        tls: Some(tls),
        config: SmtpConfig {
            hostname: MX_HOST.to_string(),
            hosted_domains: vec![FAR.to_string()],
            ..SmtpConfig::default()
        },
        limits: Default::default(),
    });
    tokio::spawn(serve(listener, ctx, shutdown));
    port
}

fn config(dns: SocketAddr, smtp_port: u16) -> OutboundConfig {
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

async fn send(near: &Side, config: OutboundConfig, shutdown: CancellationToken) -> i64 {
    let raw = format!(
        "From: <an@{NEAR}>\r\nTo: <nhan@{FAR}>\r\nSubject: tls\r\nMessage-ID: <tls@{NEAR}>\r\n\r\nNoi dung.\r\n"
    );
    let blob = near.blobs.put(raw.as_bytes()).await.expect("blob");
    let id = near
        .store
        .enqueue(NewQueuedMessage {
            blob,
            mail_from: format!("an@{NEAR}"),
            recipients: vec![format!("nhan@{FAR}")],
            created_at: chrono::Utc::now().timestamp(),
            submitted_by: Some(format!("an@{NEAR}")),
        })
        .await
        .expect("enqueue");
    let ctx = Arc::new(OutboundContext {
        store: near.store.clone(),
        blobs: near.blobs.clone(),
        pipeline: Arc::new(Pipeline::standard()),
        config,
    });
    tokio::spawn(run_queue(ctx, shutdown));
    id
}

async fn inbox_count(side: &Side, address: &str) -> usize {
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
        .find(|f| f.special_use == Some(SpecialUse::Inbox))
        .expect("inbox");
    side.store
        .list_messages(folder.id)
        .await
        .expect("list")
        .len()
}

async fn assert_delivered(far: &Side) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox_count(far, &format!("nhan@{FAR}")).await == 0 {
        assert!(Instant::now() < deadline, "not delivered in 30s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for two failed attempts and returns the last error; asserts nothing was delivered.
async fn assert_deferred(near: &Side, far: &Side, id: i64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entry = near
            .store
            .queue_entry(id)
            .await
            .expect("q")
            .expect("queued");
        let r = &entry.recipients[0];
        if r.attempts >= 2 {
            assert_eq!(r.status, QueueStatus::Pending, "{r:?}");
            assert_eq!(inbox_count(far, &format!("nhan@{FAR}")).await, 0);
            return r.last_error.clone().unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "no attempts: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tlsa(port: u16, usage: CertUsage, data: Vec<u8>) -> ((String, RecordType), Vec<RData>) {
    (
        (format!("_{port}._tcp.{MX_HOST}"), RecordType::TLSA),
        vec![RData::TLSA(TLSA::new(
            usage,
            Selector::Spki,
            Matching::Sha256,
            data,
        ))],
    )
}

// --- DANE --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_ee_match_delivers_over_tls() {
    let shutdown = CancellationToken::new();
    let near = open_side(NEAR, "an").await;
    let far = open_side(FAR, "nhan").await;
    // Self-signed, wrong name: DANE-EE(3) ignores both (RFC 7672 §3.1.1).
    let (cert, key) = leaf("whatever.invalid", None);
    let digest = spki_sha256(&cert);
    let port = serve_far(&far, server_config(cert, key), shutdown.clone()).await;
    let mut zone = base_zone();
    let (k, v) = tlsa(port, CertUsage::DaneEe, digest);
    zone.insert(k, v);
    let dns = start_dns(zone, shutdown.clone()).await;
    send(&near, config(dns, port), shutdown.clone()).await;
    assert_delivered(&far).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_ta_match_delivers_when_the_chain_and_name_check() {
    let shutdown = CancellationToken::new();
    let near = open_side(NEAR, "an").await;
    let far = open_side(FAR, "nhan").await;
    let ca = test_ca();
    let (cert, key) = leaf(MX_HOST, Some(&ca));
    let ca_der = CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("ca der");
    let tls = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            // RFC 7672 §3.1.2: the server sends the TA certificate in its chain.
            .with_single_cert(vec![cert, ca_der.clone()], key)
            .expect("config"),
    );
    let port = serve_far(&far, tls, shutdown.clone()).await;
    let mut zone = base_zone();
    let (k, v) = tlsa(port, CertUsage::DaneTa, spki_sha256(&ca_der));
    zone.insert(k, v);
    let dns = start_dns(zone, shutdown.clone()).await;
    send(&near, config(dns, port), shutdown.clone()).await;
    assert_delivered(&far).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_mismatch_is_deferred_with_4_7_5_and_never_sent_in_clear() {
    let shutdown = CancellationToken::new();
    let near = open_side(NEAR, "an").await;
    let far = open_side(FAR, "nhan").await;
    let (cert, key) = leaf(MX_HOST, None);
    let port = serve_far(&far, server_config(cert, key), shutdown.clone()).await;
    let mut zone = base_zone();
    let (k, v) = tlsa(port, CertUsage::DaneEe, vec![0xAB; 32]);
    zone.insert(k, v);
    let dns = start_dns(zone, shutdown.clone()).await;
    let id = send(&near, config(dns, port), shutdown.clone()).await;
    let error = assert_deferred(&near, &far, id).await;
    assert!(error.contains("4.7.5") && error.contains("DANE"), "{error}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_off_in_config_ignores_tlsa_records() {
    let shutdown = CancellationToken::new();
    let near = open_side(NEAR, "an").await;
    let far = open_side(FAR, "nhan").await;
    let (cert, key) = leaf(MX_HOST, None);
    let port = serve_far(&far, server_config(cert, key), shutdown.clone()).await;
    let mut zone = base_zone();
    let (k, v) = tlsa(port, CertUsage::DaneEe, vec![0xAB; 32]);
    zone.insert(k, v);
    let dns = start_dns(zone, shutdown.clone()).await;
    let mut config = config(dns, port);
    config.dane = false;
    send(&near, config, shutdown.clone()).await;
    assert_delivered(&far).await;
    shutdown.cancel();
}

// --- MTA-STS -----------------------------------------------------------------------------------

/// Serves `policy` at https://mta-sts.far.test:<port>/.well-known/mta-sts.txt.
async fn serve_policy(ca: &TestCa, policy: &'static str, shutdown: CancellationToken) -> u16 {
    let (cert, key) = leaf(&format!("mta-sts.{FAR}"), Some(ca));
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert, key));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r { Ok(r) => r, Err(_) => return },
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let ok = request.starts_with(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n");
                let response = if ok {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{policy}",
                        policy.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .into()
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn mta_sts_zone() -> Zone {
    let mut zone = base_zone();
    zone.insert(
        (format!("_mta-sts.{FAR}"), RecordType::TXT),
        vec![RData::TXT(TXT::new(vec!["v=STSv1; id=20261123;".into()]))],
    );
    zone.insert(
        (format!("mta-sts.{FAR}"), RecordType::A),
        vec![RData::A(A(Ipv4Addr::LOCALHOST))],
    );
    zone
}

async fn mta_sts_case(
    policy: &'static str,
    mx_cert_from_ca: bool,
) -> (Side, Side, i64, CancellationToken) {
    let shutdown = CancellationToken::new();
    let near = open_side(NEAR, "an").await;
    let far = open_side(FAR, "nhan").await;
    let ca = test_ca();
    let ca_file = near.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write ca");
    let (cert, key) = leaf(MX_HOST, mx_cert_from_ca.then_some(&ca));
    let port = serve_far(&far, server_config(cert, key), shutdown.clone()).await;
    let https = serve_policy(&ca, policy, shutdown.clone()).await;
    let dns = start_dns(mta_sts_zone(), shutdown.clone()).await;
    let mut config = config(dns, port);
    config.mta_sts_ca_file = Some(ca_file);
    config.mta_sts_port = https;
    let id = send(&near, config, shutdown.clone()).await;
    (near, far, id, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_enforce_delivers_to_a_matching_mx_with_a_valid_certificate() {
    let (_near, far, _, shutdown) = mta_sts_case(
        "version: STSv1\r\nmode: enforce\r\nmx: *.far.test\r\nmax_age: 86400\r\n",
        true,
    )
    .await;
    assert_delivered(&far).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_enforce_defers_an_mx_outside_the_policy() {
    let (near, far, id, shutdown) = mta_sts_case(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.other.test\r\nmax_age: 86400\r\n",
        true,
    )
    .await;
    let error = assert_deferred(&near, &far, id).await;
    assert!(
        error.contains("4.7.5") && error.contains("not in the policy"),
        "{error}"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_enforce_defers_an_mx_without_a_valid_certificate() {
    let (near, far, id, shutdown) = mta_sts_case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.far.test\r\nmax_age: 86400\r\n",
        false,
    )
    .await;
    let error = assert_deferred(&near, &far, id).await;
    assert!(
        error.contains("4.7.5") && error.contains("MTA-STS"),
        "{error}"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_testing_mode_only_logs() {
    let (_near, far, _, shutdown) = mta_sts_case(
        "version: STSv1\r\nmode: testing\r\nmx: mail.other.test\r\nmax_age: 86400\r\n",
        false,
    )
    .await;
    assert_delivered(&far).await;
    shutdown.cancel();
}
