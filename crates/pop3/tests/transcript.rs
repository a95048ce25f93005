//! Byte-level transcripts against a real server: pipelining, bad input, limits, refused
//! accounts, the failure cap, STLS injection, concurrent IMAP changes, idle timeout and
//! shutdown. `c.cmd("STAT", "+OK 2 ")` sends one line and checks the start of the reply.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Options, PASSWORD, base64, connect, start, tls_config};
use congvu_core::Flags;
use congvu_core::flags::{Flag, FlagOp};
use congvu_pop3::TlsMode;
use congvu_store::Store;
use tokio::io::BufReader;

const MSG: &str = "Subject: a\r\n\r\nbody\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_commands_are_answered_in_order() {
    let s = start(Options::default()).await;
    s.deliver("binh", MSG.as_bytes()).await;
    s.deliver("binh", MSG.as_bytes()).await;
    let mut c = connect(&s).await;
    c.send(
        format!(
            "CAPA\r\nUSER binh@tinh.gov.vn\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 2\r\nNOOP\r\nQUIT\r\n"
        )
        .as_bytes(),
    )
    .await;
    c.expect("+OK Capability list follows").await;
    let capa = c.body().await;
    assert!(capa.contains(&"PIPELINING".to_string()), "{capa:?}");
    assert!(
        capa.contains(&"USER".to_string()),
        "loopback plain text allowed: {capa:?}"
    );
    assert!(
        !capa.contains(&"STLS".to_string()),
        "no TLS configured: {capa:?}"
    );
    c.expect("+OK Now send your password").await;
    c.expect("+OK binh@tinh.gov.vn has 2 messages (40 octets).")
        .await;
    c.expect("+OK 2 40\r\n").await;
    c.expect("+OK 2 messages (40 octets)").await;
    assert_eq!(c.body().await, vec!["1 20", "2 20"]);
    c.expect("+OK 20 octets").await;
    assert_eq!(c.body().await, vec!["Subject: a", "", "body"]);
    c.expect("+OK\r\n").await;
    c.expect("+OK pop.tinh.gov.vn signing off; 0 messages deleted, 2 left.")
        .await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors_and_the_session_goes_on() {
    let s = start(Options::default()).await;
    s.deliver("binh", MSG.as_bytes()).await;
    let mut c = connect(&s).await;
    c.cmd("HELO", "-ERR Unknown command; send CAPA").await;
    c.cmd("STAT", "-ERR Please log in first").await;
    c.cmd("NOOP", "-ERR Please log in first").await;
    c.cmd(
        "PASS x",
        "-ERR Send USER with your e-mail address before PASS.",
    )
    .await;
    c.cmd("APOP binh x", "-ERR Unknown command").await;
    let long = format!("USER {}", "a".repeat(300));
    c.cmd(
        &long,
        "-ERR The line is too long; commands are at most 255 octets.",
    )
    .await;
    c.send(b"USER \xff\xfe\r\n").await;
    c.expect("-ERR The command is not valid UTF-8.").await;
    c.cmd("user binh@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("pass {PASSWORD}"),
        "+OK binh@tinh.gov.vn has 1 messages",
    )
    .await;
    c.cmd("RETR 0", "-ERR A message number is a positive whole number")
        .await;
    c.cmd("RETR x", "-ERR A message number is a positive whole number")
        .await;
    c.cmd("RETR 99999999999999999999", "-ERR A message number")
        .await;
    c.cmd(
        "TOP 1",
        "-ERR TOP needs a message number and a number of lines.",
    )
    .await;
    c.cmd(
        "LIST 2",
        "-ERR There is no message 2; this mailbox has 1 messages.",
    )
    .await;
    c.cmd("USER an@tinh.gov.vn", "-ERR You are already logged in.")
        .await;
    c.cmd("STLS", "-ERR STLS is only allowed before login.")
        .await;
    c.cmd("TOP 1 0", "+OK Top of message follows").await;
    assert_eq!(c.body().await, vec!["Subject: a", ""]);
    c.cmd("QUIT", "+OK").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_errors_close_the_connection() {
    let s = start(Options::default()).await;
    let mut c = connect(&s).await;
    for _ in 0..19 {
        c.cmd("XYZZY", "-ERR Unknown command").await;
    }
    c.cmd("XYZZY", "-ERR Unknown command").await;
    c.expect("-ERR Too many errors; closing the connection.")
        .await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn suspended_and_revoked_accounts_are_refused_with_a_sentence() {
    let s = start(Options::default()).await;
    let mut c = connect(&s).await;
    c.cmd("USER treo@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "-ERR [SYS/PERM] This mailbox is suspended; please contact your unit IT contact or the administrator.",
    )
    .await;
    let plain = base64(&format!("\0khoa@tinh.gov.vn\0{PASSWORD}"));
    c.cmd(
        &format!("AUTH PLAIN {plain}"),
        "-ERR [SYS/PERM] This mailbox has been revoked and can no longer be used.",
    )
    .await;
    // A wrong password does not reveal the account's state.
    c.cmd("USER treo@tinh.gov.vn", "+OK").await;
    c.cmd(
        "PASS wrong",
        "-ERR [AUTH] The e-mail address or the password is wrong.",
    )
    .await;
    c.expect("-ERR [AUTH] Too many failed logins; closing the connection.")
        .await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_slow_and_capped() {
    let s = start(Options::default()).await;
    let mut c = connect(&s).await;
    let started = std::time::Instant::now();
    c.cmd("USER nobody@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "-ERR [AUTH] The e-mail address or the password is wrong.",
    )
    .await;
    assert!(started.elapsed() >= congvu_pop3::LOGIN_FAILURE_DELAY);
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd("PASS sai", "-ERR [AUTH] The e-mail address").await;
    c.cmd("AUTH PLAIN", "+ ").await;
    c.cmd(
        &base64("\0binh@tinh.gov.vn\0sai"),
        "-ERR [AUTH] The e-mail address",
    )
    .await;
    c.expect("-ERR [AUTH] Too many failed logins").await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_auth_is_refused_without_tls() {
    let s = start(Options {
        allow_plaintext_auth_on_loopback: false,
        ..Options::default()
    })
    .await;
    let mut c = connect(&s).await;
    c.cmd("CAPA", "+OK").await;
    let capa = c.body().await;
    assert!(
        !capa.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{capa:?}"
    );
    c.cmd(
        "USER binh@tinh.gov.vn",
        "-ERR [AUTH] Passwords are not accepted on an unencrypted connection; send STLS first",
    )
    .await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "-ERR [AUTH] Passwords are not accepted",
    )
    .await;
    c.cmd("AUTH PLAIN", "-ERR [AUTH] Passwords are not accepted")
        .await;
    c.cmd("STLS", "-ERR STLS is not available on this server.")
        .await;
    c.cmd("QUIT", "+OK").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stls_discards_commands_pipelined_before_the_handshake() {
    let (tls, cert) = tls_config();
    let s = start(Options {
        tls: Some(tls),
        mode: TlsMode::Stls,
        allow_plaintext_auth_on_loopback: false,
        ..Options::default()
    })
    .await;
    let mut c = connect(&s).await;
    c.send(b"STLS\r\nUSER injected@tinh.gov.vn\r\n").await;
    c.expect("+OK Begin TLS negotiation now.").await;
    assert!(c.io.buffer().is_empty(), "nothing after +OK in plain text");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tcp = c.io.into_inner();
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let mut c = common::Client {
        io: BufReader::new(tls),
    };
    // The injected USER was dropped: PASS finds no user.
    c.cmd(&format!("PASS {PASSWORD}"), "-ERR Send USER").await;
    c.cmd("STLS", "-ERR TLS is already active.").await;
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "+OK binh@tinh.gov.vn has 0 messages",
    )
    .await;
    c.cmd("QUIT", "+OK").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_changes_during_a_session_are_reported_not_hidden() {
    let s = start(Options::default()).await;
    let gone = s.deliver("binh", MSG.as_bytes()).await;
    let flagged = s.deliver("binh", MSG.as_bytes()).await;
    let kept = s.deliver("binh", MSG.as_bytes()).await;
    let folder = s.inbox("binh").await;
    let mut deleted = Flags::default();
    deleted.set(Flag::Deleted, true);
    // An IMAP client flagged one message \Deleted before the POP3 login: it is not shown.
    s.store
        .store_flags(folder.id, &[flagged], FlagOp::Add, &deleted, None)
        .await
        .expect("flag");
    let mut c = connect(&s).await;
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "+OK binh@tinh.gov.vn has 2 messages",
    )
    .await;
    // Now an IMAP client expunges message 1 under the session.
    s.store
        .store_flags(folder.id, &[gone], FlagOp::Add, &deleted, None)
        .await
        .expect("flag");
    s.store
        .expunge(folder.id, Some(&[gone]))
        .await
        .expect("expunge");
    c.cmd(
        "RETR 1",
        "-ERR Message 1 was removed by another mail program since you logged in.",
    )
    .await;
    c.cmd("DELE 2", "+OK").await;
    c.cmd(
        "QUIT",
        "+OK pop.tinh.gov.vn signing off; 1 messages deleted",
    )
    .await;
    // The message IMAP flagged \Deleted is left for IMAP to expunge.
    let state = s.inbox_state("binh").await;
    assert_eq!(state, vec![(flagged, false, true)]);
    assert!(!state.iter().any(|m| m.0 == kept), "DELE 2 removed `kept`");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_are_closed_without_deleting() {
    let s = start(Options {
        idle_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    s.deliver("binh", MSG.as_bytes()).await;
    let mut c = connect(&s).await;
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
    c.cmd("DELE 1", "+OK").await;
    c.expect("-ERR The connection was idle too long and is closed; nothing was deleted.")
        .await;
    assert!(c.closed().await);
    assert_eq!(s.inbox_state("binh").await.len(), 1);
    // The lock went with the session.
    let mut c = connect(&s).await;
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd(
        &format!("PASS {PASSWORD}"),
        "+OK binh@tinh.gov.vn has 1 messages",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_sessions_without_deleting_and_serve_returns() {
    let s = start(Options::default()).await;
    s.deliver("binh", MSG.as_bytes()).await;
    let inbox = s.inbox("binh").await.id;
    let mut c = connect(&s).await;
    c.cmd("USER binh@tinh.gov.vn", "+OK").await;
    c.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
    c.cmd("DELE 1", "+OK").await;
    s.shutdown.cancel();
    c.expect("-ERR [SYS/TEMP] The server is shutting down; nothing was deleted")
        .await;
    assert!(c.closed().await);
    let result = tokio::time::timeout(Duration::from_secs(15), s.handle)
        .await
        .expect("serve returns");
    assert!(result.expect("join").is_ok());
    let left = s.store.list_messages(inbox).await.expect("list");
    assert_eq!(left.len(), 1, "DELE without QUIT deletes nothing");
}
