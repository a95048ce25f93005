//! End to end with fetchmail, a widely used POP3 client: it logs in, lists with UIDL,
//! retrieves every message, deletes them and QUITs; the messages reach its MDA intact and the
//! mailbox is empty afterwards. It negotiates STLS itself, and the server accepts no password
//! before TLS, so this also shows a real client's STLS path.

mod common;

use common::{Options, PASSWORD, start, tls_config};
use congvu_pop3::TlsMode;

#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_retrieves_and_deletes() {
    // fetchmail is a test tool, like swaks and python3 (`apt-get install -y fetchmail`).
    assert!(
        std::process::Command::new("fetchmail")
            .arg("--version")
            .output()
            .is_ok(),
        "fetchmail is not installed; run `apt-get install -y fetchmail`"
    );
    let (tls, _) = tls_config();
    let s = start(Options {
        tls: Some(tls),
        mode: TlsMode::Stls,
        allow_plaintext_auth_on_loopback: false,
        ..Options::default()
    })
    .await;
    let first = "Subject: một\r\n\r\n.dòng chấm\r\nhai\r\n";
    let second = "Subject: two\r\n\r\nbody two\r\n";
    s.deliver("binh", first.as_bytes()).await;
    s.deliver("binh", second.as_bytes()).await;

    let dir = s.dir.path();
    let out = dir.join("delivered");
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll 127.0.0.1 service {port} protocol POP3 uidl auth password:\n  \
             user \"binh@tinh.gov.vn\" there with password \"{PASSWORD}\" is \"binh\" here\n  \
             no sslcertck\n  \
             mda \"/bin/sh -c 'cat >> {out}; echo ===== >> {out}'\"\n",
            port = s.addr.port(),
            out = out.display(),
        ),
    )
    .expect("rc");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let home = dir.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("fetchmail")
            .env("HOME", &home)
            .arg("--fetchmailrc")
            .arg(home.join("fetchmailrc"))
            .arg("--idfile")
            .arg(home.join("fetchids"))
            .arg("--pidfile")
            .arg(home.join("fetchmail.pid"))
            .arg("--nosyslog")
            .arg("-v")
            .output()
            .expect("run fetchmail")
    })
    .await
    .expect("join");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "fetchmail failed:\n{log}");
    let delivered = std::fs::read_to_string(&out).expect("delivered mail");
    // fetchmail adds a Received: header and may end the body with its own line end; the
    // bodies themselves, the dot line included, must be intact.
    assert!(
        delivered.contains("Subject: một\r\n") || delivered.contains("Subject: một\n"),
        "{delivered}"
    );
    assert!(delivered.contains(".dòng chấm"), "{delivered}");
    assert!(delivered.contains("body two"), "{delivered}");
    assert_eq!(delivered.matches("=====").count(), 2, "{delivered}\n{log}");
    assert!(
        s.inbox_state("binh").await.is_empty(),
        "fetchmail deleted what it fetched:\n{log}"
    );
}
