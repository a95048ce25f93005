//! `populate`: APPEND messages into a folder, as fast as both servers allow and identically for
//! both. Each connection writes its APPENDs back to back with non-synchronising literals
//! (RFC 7888 LITERAL+, which both congvu and Dovecot advertise) while a second task reads the
//! tagged replies, so the server is never waiting for the client.
//!
//! Message `j` of user `u` is mbox message `j % len` with an `X-Bench-Seq: u.j` header in
//! front, so no two are byte-identical, within a mailbox or across them (congvu stores a
//! message once however many mailboxes hold it, and caches by content: identical mailboxes
//! would measure that instead of the server); about 70% are \Seen and one in 17 is
//! \Flagged, like a real mailbox.

use crate::Server;
use crate::imap::{self, Conn};
use anyhow::{Context as _, Result, bail};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;

#[derive(clap::Args)]
pub struct Opts {
    /// The mbox to take messages from (shared/peers/gen_mbox.py writes one).
    #[arg(long)]
    mbox: std::path::PathBuf,
    /// Messages per user.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Folder to fill (created when missing).
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// First user number (user001 is 1).
    #[arg(long, default_value_t = 1)]
    first_user: u32,
    /// How many users, each filled with COUNT messages.
    #[arg(long, default_value_t = 1)]
    users: u32,
    /// Connections per user, each appending its share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Skip mbox messages larger than this many bytes (0: keep all).
    #[arg(long, default_value_t = 0)]
    max_size: usize,
    /// Instead of APPENDing, write the same messages (same bytes, same flags) as files of this
    /// Maildir folder (`.../Maildir/.Big`). Dovecot's APPEND costs one fsync and one uidlist
    /// lock per message (about 130 msg/s here), so the peer's 100k folder is written this way;
    /// Dovecot indexes it on the first SELECT, which the benchmark's warm-up round absorbs.
    #[arg(long)]
    maildir: Option<std::path::PathBuf>,
}

/// Maildir info flags (sorted letters, https://cr.yp.to/proto/maildir.html) for our flag list.
fn maildir_flags(flags: &str) -> &'static str {
    match (flags.contains("Flagged"), flags.contains("Seen")) {
        (true, true) => "FS",
        (true, false) => "F",
        (false, true) => "S",
        (false, false) => "",
    }
}

fn write_maildir(
    dir: &std::path::Path,
    mbox: &[Vec<u8>],
    user: u32,
    count: usize,
) -> Result<usize> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::write(dir.join("maildirfolder"), b"")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut bytes = 0;
    for j in 0..count {
        let (m, flags) = message(mbox, user, j);
        // Maildir files hold LF line ends; Dovecot adds the CRs when it serves them. S= is the
        // file's size, W= the size with CRLF (RFC822.SIZE), as Dovecot writes them.
        let lf: Vec<u8> = m.iter().copied().filter(|&b| b != b'\r').collect();
        let name = format!(
            "{}.M{j}P{}.congvu-bench,S={},W={}:2,{}",
            now,
            std::process::id(),
            lf.len(),
            m.len(),
            maildir_flags(flags)
        );
        std::fs::write(dir.join("cur").join(name), &lf)?;
        bytes += m.len();
    }
    Ok(bytes)
}

/// Splits an mbox (mboxo/mboxrd as Python writes it) into messages with CRLF line ends.
pub fn read_mbox(path: &std::path::Path, max_size: usize) -> Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        prev_blank = body.is_empty();
        let Some(m) = current.as_mut() else { continue };
        // mboxrd quoting: ">From " (and ">>From ") lose one '>'.
        let unquoted = match body.iter().position(|&b| b != b'>') {
            Some(i) if i > 0 && body[i..].starts_with(b"From ") => &body[1..],
            _ => body,
        };
        m.extend_from_slice(unquoted);
        m.extend_from_slice(b"\r\n");
    }
    if let Some(m) = current {
        messages.push(m);
    }
    // The blank line before the next "From " belongs to the mbox, not the message.
    for m in &mut messages {
        if m.ends_with(b"\r\n\r\n") {
            m.truncate(m.len() - 2);
        }
    }
    if max_size > 0 {
        messages.retain(|m| m.len() <= max_size);
    }
    // gen_mbox.py's .docx attachments are random bytes, not Zip archives: congvu's attachment
    // policy (R-POL-3) refuses them and Dovecot stores them, so the folders would differ.
    const FAKE_DOCX: &[u8] = b"wordprocessingml";
    messages.retain(|m| !m.windows(FAKE_DOCX.len()).any(|w| w == FAKE_DOCX));
    if messages.is_empty() {
        bail!("no messages in {}", path.display());
    }
    Ok(messages)
}

/// Message `j` of user `user` in the benchmark: its bytes and flags.
pub fn message(mbox: &[Vec<u8>], user: u32, j: usize) -> (Vec<u8>, &'static str) {
    let base = &mbox[j % mbox.len()];
    let mut m = format!("X-Bench-Seq: {user}.{j}\r\n").into_bytes();
    m.extend_from_slice(base);
    let flags = match (j % 10 < 7, j.is_multiple_of(17)) {
        (true, true) => "\\Seen \\Flagged",
        (true, false) => "\\Seen",
        (false, true) => "\\Flagged",
        (false, false) => "",
    };
    (m, flags)
}

pub async fn run(server: &Server, o: Opts) -> Result<()> {
    let mbox = Arc::new(read_mbox(&o.mbox, o.max_size)?);
    let target = server.target();
    let start = Instant::now();
    let mut bytes = 0usize;
    if let Some(dir) = &o.maildir {
        bytes = write_maildir(dir, &mbox, o.first_user, o.count)?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "RESULT mode=populate-maildir messages={} bytes={bytes} seconds={secs:.2}",
            o.count
        );
        return Ok(());
    }
    for user in o.first_user..o.first_user + o.users {
        let login = server.login_name(user);
        let mut conn = Conn::login(&target, &login, &server.password).await?;
        if !o.folder.eq_ignore_ascii_case("INBOX") {
            // NO [ALREADYEXISTS] on a second run is fine.
            conn.command(&format!("CREATE {}", imap::quote(&o.folder)))
                .await?;
        }
        conn.command("LOGOUT").await.ok();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..o.connections {
            let (target, login, password) =
                (target.clone(), login.clone(), server.password.clone());
            let (mbox, folder, count, step) =
                (mbox.clone(), o.folder.clone(), o.count, o.connections);
            tasks.spawn(async move {
                let conn = Conn::login(&target, &login, &password).await?;
                let (reader, mut writer) = conn.into_split();
                let mine: Vec<usize> = (c..count).step_by(step).collect();
                let n = mine.len();
                let reading = tokio::spawn(imap::read_tagged_replies(reader, n));
                let mut sent = 0usize;
                for (k, j) in mine.iter().enumerate() {
                    let (m, flags) = message(&mbox, user, *j);
                    let mut cmd = format!(
                        "p{k} APPEND {} ({flags}) {{{}+}}\r\n",
                        imap::quote(&folder),
                        m.len()
                    )
                    .into_bytes();
                    cmd.extend_from_slice(&m);
                    cmd.extend_from_slice(b"\r\n");
                    writer.write_all(&cmd).await?;
                    sent += m.len();
                }
                writer.flush().await?;
                let (failed, first) = reading.await??;
                if failed > 0 {
                    bail!(
                        "{failed} APPENDs failed, first: {}",
                        first.unwrap_or_default()
                    );
                }
                anyhow::Ok(sent)
            });
        }
        while let Some(r) = tasks.join_next().await {
            bytes += r??;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let total = o.count * o.users as usize;
    println!(
        "RESULT mode=populate messages={total} bytes={bytes} seconds={secs:.2} msg_per_s={:.1}",
        total as f64 / secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_split() {
        let dir = std::env::temp_dir().join(format!("cvb-mbox-{}", std::process::id()));
        std::fs::write(
            &dir,
            b"From a@b Mon Jan 1\nSubject: x\n\nhi\n>From here\n\nFrom c@d Mon\nSubject: y\n\nyo\n",
        )
        .unwrap();
        let m = read_mbox(&dir, 0).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: x\r\n\r\nhi\r\nFrom here\r\n");
        assert_eq!(m[1], b"Subject: y\r\n\r\nyo\r\n");
        let (bytes, flags) = message(&m, 7, 3);
        assert!(bytes.starts_with(b"X-Bench-Seq: 7.3\r\nSubject: y"));
        assert_eq!(flags, "\\Seen"); // 3 % 10 < 7
    }
}
