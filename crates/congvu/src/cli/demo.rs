//! `congvu demo`: a sample province on loopback ports, created on first run.
//!
//! The sample mail is sent through the running server's own SMTP listener, so the demo
//! exercises the same path as real mail (SMTP → pipeline → store).

use crate::config;
use crate::storage;
use anyhow::{Result, bail};
use congvu_core::password::hash_password;
use congvu_store::{AccountKind, NewAccount};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const DOMAIN: &str = "bacgiang.gov.vn";
/// Every demo mailbox has this password; it meets R-POL-1. Never use it outside the demo.
pub const PASSWORD: &str = "Demo@2026";

/// (address, display name, kind). Addresses follow R-ACC-3: units by initials without "và",
/// people by given name + initials of family and middle names.
const MAILBOXES: &[(&str, &str, AccountKind)] = &[
    ("stttt", "Sở Thông tin và Truyền thông", AccountKind::Unit),
    ("stnmt", "Sở Tài nguyên và Môi trường", AccountKind::Unit),
    ("sdl", "Sở Du lịch", AccountKind::Unit),
    (
        "ubndtpbg",
        "Ủy ban nhân dân thành phố Bắc Giang",
        AccountKind::Unit,
    ),
    ("annv", "Nguyễn Văn An", AccountKind::Person),
    ("hattt", "Trần Thị Thu Hà", AccountKind::Person),
    ("huongdt", "Đặng Thị Hương", AccountKind::Person),
    ("baotv", "Trần Văn Bảo", AccountKind::Person),
    ("cuongdv", "Đỗ Việt Cường", AccountKind::Person),
    ("lanpt", "Phạm Thị Lan", AccountKind::Person),
    ("minhlq", "Lê Quang Minh", AccountKind::Person),
    ("ngocvtb", "Vũ Thị Bích Ngọc", AccountKind::Person),
    ("dungnt", "Ngô Tiến Dũng", AccountKind::Person),
    ("annv01", "Nguyễn Văn An", AccountKind::Person),
];

/// (listener, demo address, address in the file `init` writes).
const PORTS: [(&str, &str, &str); 11] = [
    ("smtp", "127.0.0.1:2525", "0.0.0.0:25"),
    ("submission", "127.0.0.1:2587", "0.0.0.0:587"),
    ("submissions", "127.0.0.1:2465", "0.0.0.0:465"),
    ("imap", "127.0.0.1:2143", "0.0.0.0:143"),
    ("imaps", "127.0.0.1:2993", "0.0.0.0:993"),
    ("pop3", "127.0.0.1:2110", "0.0.0.0:110"),
    ("pop3s", "127.0.0.1:2995", "0.0.0.0:995"),
    ("http", "127.0.0.1:2080", ""),
    ("ldap", "127.0.0.1:2389", ""),
    ("ldaps", "127.0.0.1:2636", ""),
    ("managesieve", "127.0.0.1:24190", ""),
];

pub async fn run(dir: &Path) -> Result<()> {
    let config_path = dir.join("congvu.toml");
    let fresh = !config_path.exists();
    if fresh {
        let done = crate::cli::init::init(dir, DOMAIN, Some("localhost")).await?;
        let mut text = std::fs::read_to_string(&config_path)?;
        for (key, addr, default) in PORTS {
            text = text.replace(
                &format!("{key} = \"{default}\""),
                &format!("{key} = \"{addr}\""),
            );
        }
        // The demo publishes its units' directory page.
        text = text.replace("public = false", "public = true");
        std::fs::write(&config_path, text)?;
        let loaded = config::load(&config_path, std::iter::empty())?;
        let (store, _blobs) = storage::open(&loaded).await?;
        let hash = hash_password(PASSWORD, &storage::random_salt())?;
        for (local, name, kind) in MAILBOXES {
            store
                .create_account(NewAccount {
                    address: format!("{local}@{DOMAIN}"),
                    display_name: name.to_string(),
                    password_hash: hash.clone(),
                    kind: *kind,
                    created_at: storage::now(),
                })
                .await?;
        }
        crate::tls::write_private(
            &dir.join("operator-password.txt"),
            format!("{}\n{}\n", done.operator, done.password).as_bytes(),
        )?;
        drop(store);
    }

    let loaded = config::load(&config_path, std::env::vars())?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    crate::serve::cancel_on_signal(shutdown.clone());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<crate::serve::Bound>();
    // The server runs on this task; the seeding and banner wait for it to be listening.
    let dir_owned = dir.to_path_buf();
    tokio::spawn(async move {
        let Ok(bound) = ready_rx.await else { return };
        if fresh
            && let Some(smtp) = bound.get("smtp")
            && let Err(e) = send_sample_mail(smtp).await
        {
            tracing::warn!(error = %e, "could not send the sample mail");
        }
        print_banner(&dir_owned, &bound);
    });
    crate::serve::run(loaded, shutdown, Some(ready_tx)).await
}

fn print_banner(dir: &Path, bound: &crate::serve::Bound) {
    println!();
    println!("congvu demo — Hệ thống thư điện tử công vụ tỉnh Bắc Giang (mẫu)");
    println!("  data: {}", dir.display());
    for (key, addr) in &bound.listeners {
        let note = match *key {
            "smtp" => "SMTP MX, receives mail for bacgiang.gov.vn (STARTTLS available)",
            "submission" => "submission: STARTTLS, then AUTH PLAIN/LOGIN",
            "submissions" => "submission over implicit TLS",
            "imap" => "IMAP (STARTTLS; plain LOGIN allowed on loopback)",
            "imaps" => "IMAP over implicit TLS",
            "pop3" => "POP3 (STLS; plain USER/PASS allowed on loopback)",
            "pop3s" => "POP3 over implicit TLS",
            "http" => "JSON API and public directory page",
            "ldap" => "LDAP directory (address book), read-only, StartTLS; bind as a mailbox",
            "ldaps" => "LDAP directory over implicit TLS",
            "managesieve" => "ManageSieve (mail filters, vacation), STARTTLS",
            _ => "",
        };
        println!("  {key:<12} {addr:<18} {note}");
        if *key == "ldap" {
            println!(
                "  {:<12} ldapsearch -x -H ldap://{addr} -D annv@{DOMAIN} -w {PASSWORD} -b dc=bacgiang,dc=gov,dc=vn '(cn=*nguyen*)'",
                ""
            );
        }
        if *key == "http" {
            println!(
                "  {:<12} http://{addr}/api/v1  (OpenAPI: http://{addr}/api/v1/openapi.json)",
                ""
            );
            println!("  {:<12} http://{addr}/directory", "");
        }
    }
    println!("  TLS uses a self-signed certificate for localhost.");
    println!("  mailboxes (password for all: {PASSWORD}):");
    for (local, name, kind) in MAILBOXES {
        let kind = if *kind == AccountKind::Unit {
            "hộp thư cơ quan"
        } else {
            "hộp thư cá nhân"
        };
        println!("    {:<28} {name} ({kind})", format!("{local}@{DOMAIN}"));
    }
    println!(
        "  operator: postmaster@{DOMAIN} (password in {}/operator-password.txt)",
        dir.display()
    );
    println!("Press Ctrl-C to stop.");
}

/// Sample official correspondence, sent over SMTP to the demo itself.
async fn send_sample_mail(smtp: std::net::SocketAddr) -> Result<()> {
    let samples: [(&str, &[&str], &str, &str); 4] = [
        (
            "stttt",
            &["annv", "hattt", "huongdt", "baotv"],
            "Công văn số 125/STTTT-CNTT về việc sử dụng hệ thống thư điện tử công vụ",
            "Kính gửi các đồng chí,\r\n\r\nSở Thông tin và Truyền thông đề nghị cán bộ, công chức sử dụng hộp thư công vụ\r\n\
             trong trao đổi công việc, không sử dụng thư điện tử cá nhân.\r\n\r\nTrân trọng.\r\n",
        ),
        (
            "annv",
            &["huongdt"],
            "Báo cáo tuần 47",
            "Chào chị Hương,\r\n\r\nEm gửi báo cáo tuần 47 của phòng. Đặng Thị Hương xem giúp em nhé.\r\n\r\nAn\r\n",
        ),
        (
            "stnmt",
            &["stttt", "sdl"],
            "Giấy mời họp liên ngành ngày 25/11",
            "Kính mời đại diện lãnh đạo Sở dự họp liên ngành lúc 8h00 ngày 25/11 tại phòng họp tầng 3.\r\n",
        ),
        (
            "cuongdv",
            &["annv"],
            "Lịch trực Tết",
            "Anh An ơi, lịch trực Tết em đã cập nhật. Nguyen Van An trực ngày mùng 2.\r\n",
        ),
    ];
    let stream = tokio::net::TcpStream::connect(smtp).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    expect(&mut lines, "220").await?;
    write.write_all(b"EHLO demo.localhost\r\n").await?;
    expect(&mut lines, "250").await?;
    for (i, (from, to, subject, body)) in samples.iter().enumerate() {
        write
            .write_all(format!("MAIL FROM:<{from}@{DOMAIN}>\r\n").as_bytes())
            .await?;
        expect(&mut lines, "250").await?;
        for rcpt in *to {
            write
                .write_all(format!("RCPT TO:<{rcpt}@{DOMAIN}>\r\n").as_bytes())
                .await?;
            expect(&mut lines, "250").await?;
        }
        write.write_all(b"DATA\r\n").await?;
        expect(&mut lines, "354").await?;
        let to_header: Vec<String> = to.iter().map(|t| format!("{t}@{DOMAIN}")).collect();
        let message = format!(
            "From: {from}@{DOMAIN}\r\nTo: {}\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {}\r\nMessage-ID: <demo-{i}@{DOMAIN}>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}.\r\n",
            to_header.join(", "),
            base64(subject.as_bytes()),
            chrono::Utc::now().to_rfc2822(),
        );
        write.write_all(message.as_bytes()).await?;
        expect(&mut lines, "250").await?;
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok(())
}

async fn expect(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    code: &str,
) -> Result<()> {
    loop {
        let Some(line) = lines.next_line().await? else {
            bail!("the server closed the connection")
        };
        if line.len() >= 4 && line.as_bytes()[3] == b'-' {
            continue;
        }
        if !line.starts_with(code) {
            bail!("expected {code}, got: {line}");
        }
        return Ok(());
    }
}

/// RFC 2045 §6.8 base64, for the encoded-word subjects of the sample mail.
fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
