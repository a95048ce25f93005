//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): each runs, on arbitrary bytes,
//! exactly the pure code the server runs on what a client sends or on a stored message, so a
//! panic found by the fuzzer is a panic a client could trigger. They return nothing useful and
//! are not part of the server's API (hidden from the docs).
//!
//! What it keeps true: no function here has a code path of its own; it only calls the server's
//! functions in the order `session.rs` and `cmd/fetch.rs` call them.

use crate::conn::{line_command, line_tag, literal_announcement};
use crate::esearch::{self, Saved};
use crate::response::Out;
use crate::section::{SectionSpec, SectionText};
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;

/// The decoding path of one client command (`Session::read_command`, `rewrite`,
/// `execute_raw`, `execute`): framing of lines and literal announcements, the SEARCHRES `$`
/// and ESEARCH `RETURN` rewrites, the raw argument reader, imap-codec's decoder, and the
/// mailbox-name decoding of the decoded command.
pub fn command(bytes: &[u8]) {
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let _ = literal_announcement(line);
    }
    let _ = line_tag(bytes);
    let _ = line_command(bytes);
    let (_name, _uid) = esearch::command_name(bytes);
    let saved = [1u32, 2, 3, 7, 4_000_000_000];
    let mut variants = vec![bytes.to_vec()];
    for s in [
        Saved::SearchKey(&saved),
        Saved::Uids(&saved),
        Saved::Uids(&[]),
        Saved::Seqs(&[1, 2, 5]),
    ] {
        if let Some(r) = esearch::substitute_dollar(bytes, s) {
            variants.push(r);
        }
    }
    for v in variants {
        let v = match esearch::take_return(&v) {
            Ok(Some((rest, _ret))) => rest,
            Ok(None) => v,
            Err(_) => continue,
        };
        let _ = crate::rawargs::parse(&v);
        if let Ok((_rest, cmd)) = CommandCodec::default().decode(&v) {
            mailbox_names(&cmd.body);
        }
    }
}

fn mailbox_names(body: &CommandBody<'_>) {
    use CommandBody as C;
    let boxes = match body {
        C::Select { mailbox, .. }
        | C::Examine { mailbox, .. }
        | C::Create { mailbox }
        | C::Delete { mailbox }
        | C::Subscribe { mailbox }
        | C::Unsubscribe { mailbox }
        | C::Status { mailbox, .. }
        | C::Append { mailbox, .. }
        | C::Copy { mailbox, .. }
        | C::Move { mailbox, .. } => vec![mailbox],
        C::Rename { from, to } => vec![from, to],
        _ => vec![],
    };
    for m in boxes {
        for utf8 in [false, true] {
            if let Ok(name) = crate::names::from_wire(m, utf8) {
                let _ = crate::names::for_create(&name);
                let _ = crate::names::to_wire(&name, utf8);
            }
        }
    }
}

/// What the server does with a message: index it at delivery (`congvu_wire::mime`), then
/// answer FETCH from the index and the bytes: ENVELOPE, BODYSTRUCTURE, BODY[section] of every
/// part (HEADER, TEXT, MIME, HEADER.FIELDS) and BINARY decoding.
pub fn message(raw: &[u8]) {
    let index = congvu_wire::mime::parse_message(raw);
    let mut out = Out::default();
    crate::bodystructure::write_envelope(&mut out, &index.envelope);
    crate::bodystructure::write_body(&mut out, &index.structure, true);
    crate::bodystructure::write_body(&mut out, &index.structure, false);
    let mut paths: Vec<Vec<u32>> = vec![vec![]];
    let mut i = 0;
    // Every part path down to a bounded depth and breadth (a fuzz input can nest deeply).
    while i < paths.len() && paths.len() < 64 {
        let p = paths[i].clone();
        i += 1;
        if p.len() >= 6 {
            continue;
        }
        for n in 1..=4u32 {
            let mut child = p.clone();
            child.push(n);
            if crate::section::find_part(&index.structure, &child).is_some() {
                paths.push(child);
            }
        }
    }
    for path in paths {
        for text in [
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
            SectionText::HeaderFields {
                names: vec!["Subject".into(), "From".into()],
                not: false,
            },
            SectionText::HeaderFields {
                names: vec!["Received".into()],
                not: true,
            },
        ] {
            let spec = SectionSpec {
                path: path.clone(),
                text,
            };
            let data = crate::section::extract(raw, &index.structure, &spec);
            let _ = crate::section::partial(&data, 3, 100);
        }
        if let Some(part) = crate::section::find_part(&index.structure, &path) {
            let body = crate::section::extract(
                raw,
                &index.structure,
                &SectionSpec {
                    path: path.clone(),
                    text: SectionText::Full,
                },
            );
            let _ = crate::binary::decode(&part.encoding, &body);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The session state machine, over a real loopback connection.

use crate::{ImapConfig, ImapContext, TlsMode};
use congvu_store::blob_fs::FsBlobStore;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, NewAccount, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The fuzzed mailbox and its password.
const FUZZ_LOGIN: &str = "fuzz@tinh.gov.vn";
const FUZZ_PASSWORD: &str = "Fuzz-pass-2026!";
/// A second mailbox, so SETACL and friends have someone to name.
const OTHER_LOGIN: &str = "binh@tinh.gov.vn";

/// Argon2id of `FUZZ_PASSWORD` with m=8 KiB, t=1, p=1. The verifier takes the parameters from
/// the PHC string, so a login costs microseconds instead of the 19 MiB default's tens of
/// milliseconds, and the fuzzer spends its time in the session, not in Argon2.
const CHEAP_HASH: &str =
    "$argon2id$v=19$m=8,t=1,p=1$RkZGRkZGRkZGRkZGRkZGRg$i1XrSXrL35edavhCAyGSdBxDt7SKFsXVTDl1qXVFeUs";

/// What the client has sent before the fuzzer's bytes, chosen by the first input byte, so that
/// every state of RFC 9051 §3 is reached: Not Authenticated, Authenticated, Selected (INBOX,
/// or a folder of the hierarchy).
const PREFIXES: [&[u8]; 4] = [
    b"",
    b"a LOGIN fuzz@tinh.gov.vn Fuzz-pass-2026!\r\n",
    b"a LOGIN fuzz@tinh.gov.vn Fuzz-pass-2026!\r\nb SELECT INBOX\r\n",
    b"a LOGIN fuzz@tinh.gov.vn Fuzz-pass-2026!\r\nb SELECT Projects/2026\r\n",
];

/// A session still running this long after the client closed its side is abandoned (and
/// reported on stderr: with end of input reached it should have ended at once).
const SESSION_LIMIT: Duration = Duration::from_secs(10);

/// The world is rebuilt from its template after this many inputs even when none changed it
/// visibly (flags, seen state, the audit log and modseqs still grow).
const RESET_EVERY: u32 = 1000;

/// Storage limit of the fuzzed mailbox: bounds what APPEND and COPY can add in one input.
const FUZZ_QUOTA: u64 = 2 << 20;

/// The mail the world starts with, as (folder, APPEND flags and date, message): a multipart
/// message with an attachment, a thread of three (In-Reply-To, References, "Re:" subjects)
/// for THREAD and SORT, an 8-bit body, and two messages in a second folder.
const MESSAGES: [(&str, &str, &str); 6] = [
    (
        "INBOX",
        "(\\Flagged)",
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <an@tinh.gov.vn>\r\n\
         To: fuzz@tinh.gov.vn, binh@tinh.gov.vn\r\n\
         Subject: =?UTF-8?Q?K=E1=BA=BF_ho=E1=BA=A1ch?= 2026\r\n\
         Date: Thu, 01 Jan 2026 08:00:00 +0700\r\n\
         Message-ID: <k1@tinh.gov.vn>\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         K=E1=BA=BF ho=E1=BA=A1ch n=C4=83m 2026.\r\n\
         --b\r\n\
         Content-Type: application/pdf; name=\"cv.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQK\r\n\
         --b--\r\n",
    ),
    (
        "INBOX",
        "() \"02-Jan-2026 09:00:00 +0700\"",
        "From: binh@tinh.gov.vn\r\n\
         To: fuzz@tinh.gov.vn\r\n\
         Subject: Re: Ke hoach 2026\r\n\
         Date: Fri, 02 Jan 2026 09:00:00 +0700\r\n\
         Message-ID: <k2@tinh.gov.vn>\r\n\
         In-Reply-To: <k1@tinh.gov.vn>\r\n\r\n\
         Dong y.\r\n",
    ),
    (
        "INBOX",
        "(\\Seen \\Answered)",
        "From: an@tinh.gov.vn\r\n\
         To: binh@tinh.gov.vn\r\n\
         Subject: Re: Re: Ke hoach 2026\r\n\
         Date: Sat, 03 Jan 2026 10:00:00 +0700\r\n\
         Message-ID: <k3@tinh.gov.vn>\r\n\
         References: <k1@tinh.gov.vn> <k2@tinh.gov.vn>\r\n\r\n\
         Cam on.\r\n",
    ),
    (
        "INBOX",
        "($Important)",
        "From: so@tinh.gov.vn\r\n\
         Subject: B\u{e1}o c\u{e1}o\r\n\
         Date: Sun, 04 Jan 2026 11:00:00 +0700\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         B\u{e1}o c\u{e1}o qu\u{fd}.\r\n",
    ),
    (
        "Projects/2026",
        "()",
        "From: an@tinh.gov.vn\r\nSubject: Archived\r\n\r\nOld note.\r\n",
    ),
    (
        "Projects/2026",
        "(\\Deleted)",
        "From: an@tinh.gov.vn\r\nSubject: Gone\r\n\r\nx\r\n",
    ),
];

/// The session that fills a new world: log in, create the second folder, append `MESSAGES`.
fn setup_transcript() -> Vec<u8> {
    let mut t = format!("a LOGIN {FUZZ_LOGIN} {FUZZ_PASSWORD}\r\nb CREATE Projects/2026\r\n");
    for (i, (folder, flags, message)) in MESSAGES.iter().enumerate() {
        t.push_str(&format!(
            "m{i} APPEND {folder} {flags} {{{}+}}\r\n{message}\r\n",
            message.len()
        ));
    }
    t.push_str("z LOGOUT\r\n");
    t.into_bytes()
}

/// The client's bytes of one session, after a fixed login (and SELECT) chosen by the first
/// byte: written to a real session (`session::run`, the function `serve` runs per
/// connection) over loopback TCP, with the client's side closed after them and everything the
/// server sends read and dropped. The session works on a real `SqliteStore` and `FsBlobStore`
/// in tmpfs, holding a mailbox with a few messages in INBOX and in `Projects/2026`.
///
/// The world (store, blobs) is made once per process and copied back from a template after an
/// input that may have changed it (EXPUNGE, MOVE, DELETE, …) and every `RESET_EVERY` inputs,
/// so most inputs see the same mailbox. Inputs that name a growing command (APPEND, COPY,
/// CREATE, RENAME) more than 4 times, or LOGIN/AUTHENTICATE more than twice (a failed login
/// costs a full-strength Argon2 run against the dummy hash), are skipped.
pub fn session(bytes: &[u8]) {
    let Some((&mode, input)) = bytes.split_first() else {
        return;
    };
    if count_words(input, &["APPEND", "COPY", "CREATE", "RENAME"]) > 4
        || count_words(input, &["LOGIN", "AUTHENTICATE"]) > 2
    {
        return;
    }
    let prefix = PREFIXES[usize::from(mode) % PREFIXES.len()];
    let mut guard = fixture().lock().unwrap_or_else(|p| p.into_inner());
    let Fixture {
        runtime,
        listener,
        template,
        world,
        generation,
    } = &mut *guard;
    runtime.block_on(async {
        if world.as_ref().is_none_or(|w| w.stale) {
            if let Some(old) = world.take() {
                old.close().await;
            }
            *generation += 1;
            *world = Some(World::copy_of(template, *generation).await);
        }
        let Some(w) = world.as_mut() else { return };
        converse(listener, &w.ctx, &[prefix, input], 0).await;
        w.runs += 1;
        w.stale = w.runs >= RESET_EVERY
            || count_words(
                input,
                &[
                    "EXPUNGE",
                    "MOVE",
                    "DELETE",
                    "CLOSE",
                    "RENAME",
                    "APPEND",
                    "COPY",
                    "CREATE",
                    "STORE",
                    "SUBSCRIBE",
                    "SETACL",
                    "DELETEACL",
                    "SETQUOTA",
                    "SETMETADATA",
                ],
            ) > 0;
    });
}

/// Case-insensitive occurrences of any of `words` in `input`.
fn count_words(input: &[u8], words: &[&str]) -> usize {
    words
        .iter()
        .map(|w| {
            input
                .windows(w.len())
                .filter(|win| win.eq_ignore_ascii_case(w.as_bytes()))
                .count()
        })
        .sum()
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    listener: TcpListener,
    /// A directory holding the world as `setup` left it (closed store).
    template: PathBuf,
    world: Option<World>,
    generation: u32,
}

/// The running store and blobs an input's session uses.
struct World {
    ctx: Arc<ImapContext>,
    store: Arc<SqliteStore>,
    dir: PathBuf,
    runs: u32,
    /// The last input may have changed the mailbox: copy the template again first.
    stale: bool,
}

fn fixture() -> &'static Mutex<Fixture> {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fuzz runtime");
        let root = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let base = root.join(format!("congvu-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("fuzz directory");
        let template = base.join("template");
        let listener = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let world = World::open(&template).await;
            create_accounts(world.store.as_ref()).await;
            let setup = setup_transcript();
            let transcript = converse(&listener, &world.ctx, &[&setup], 1 << 20).await;
            let transcript = String::from_utf8_lossy(&transcript);
            assert_eq!(
                transcript.matches("OK [APPENDUID ").count(),
                MESSAGES.len(),
                "fuzz world setup failed:\n{transcript}"
            );
            world.close_keeping_files().await;
            listener
        });
        Mutex::new(Fixture {
            runtime,
            listener,
            template,
            world: None,
            generation: 0,
        })
    })
}

async fn create_accounts(store: &SqliteStore) {
    for address in [FUZZ_LOGIN, OTHER_LOGIN] {
        store
            .create_account(NewAccount {
                address: address.to_string(),
                display_name: address.to_string(),
                password_hash: CHEAP_HASH.to_string(),
                kind: AccountKind::Person,
                created_at: 0,
            })
            .await
            .expect("fuzz account");
    }
}

impl World {
    /// Opens the store and blobs in `dir` (created if missing) as the server does.
    async fn open(dir: &Path) -> World {
        std::fs::create_dir_all(dir).expect("world directory");
        let store = Arc::new(
            SqliteStore::open(&dir.join("meta.db"))
                .await
                .expect("fuzz store"),
        );
        let blobs = Arc::new(
            FsBlobStore::open(&dir.join("blobs"))
                .await
                .expect("fuzz blobs"),
        );
        store.guard_blobs(blobs.clone());
        let ctx = Arc::new(ImapContext {
            store: store.clone(),
            blobs,
            pipeline: Arc::new(congvu_pipeline::Pipeline::standard()),
            tls: None,
            config: ImapConfig {
                hostname: "mail.tinh.gov.vn".into(),
                allow_plaintext_auth_on_loopback: true,
                idle_timeout: Duration::from_secs(5),
                quota_bytes: FUZZ_QUOTA,
                ..ImapConfig::default()
            },
        });
        World {
            ctx,
            store,
            dir: dir.to_path_buf(),
            runs: 0,
            stale: false,
        }
    }

    /// A fresh copy of the template world.
    async fn copy_of(template: &Path, generation: u32) -> World {
        let dir = template.with_file_name(format!("world-{generation}"));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(template, &dir).expect("copy the fuzz world");
        World::open(&dir).await
    }

    /// Closes the store (its files stay, checkpointed).
    async fn close_keeping_files(self) {
        let World { ctx, store, .. } = self;
        drop(ctx);
        if let Ok(store) = Arc::try_unwrap(store) {
            let _ = store.close().await;
        }
    }

    /// Closes the store and removes its files.
    async fn close(self) {
        let dir = self.dir.clone();
        self.close_keeping_files().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// One connection: `session::run` on the accepted side; the client writes `parts`, closes its
/// side and reads until the server closes. Returns the first `keep` octets the server sent.
async fn converse(
    listener: &TcpListener,
    ctx: &Arc<ImapContext>,
    parts: &[&[u8]],
    keep: usize,
) -> Vec<u8> {
    let Ok(addr) = listener.local_addr() else {
        return Vec::new();
    };
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (Ok(client), Ok((server, peer))) = (client, accepted) else {
        eprintln!("fuzz: loopback connection failed; input skipped");
        return Vec::new();
    };
    let session = crate::session::run(
        server,
        peer,
        ctx.clone(),
        TlsMode::StartTls,
        CancellationToken::new(),
    );
    let (mut reader, mut writer) = client.into_split();
    let send = async move {
        for part in parts {
            if writer.write_all(part).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    };
    let receive = async move {
        let mut kept = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = reader.read(&mut chunk).await {
            let room = keep.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..n.min(room)]);
        }
        kept
    };
    match tokio::time::timeout(SESSION_LIMIT, async {
        tokio::join!(session, send, receive)
    })
    .await
    {
        Ok((_, _, kept)) => kept,
        Err(_) => {
            let input: Vec<u8> = parts.concat();
            eprintln!(
                "fuzz: session not finished after {SESSION_LIMIT:?} (its input was all sent); input: {}",
                input.escape_ascii()
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_hash_is_the_fuzz_password() {
        assert!(congvu_core::password::verify_password(
            FUZZ_PASSWORD,
            CHEAP_HASH
        ));
        assert!(!congvu_core::password::verify_password(
            "fuzz-pass-2026!",
            CHEAP_HASH
        ));
    }

    /// The world the fuzzer starts from: the login of the prefixes works and both folders
    /// hold the messages of `MESSAGES`; a session ends when the client closes its side.
    #[test]
    fn fuzz_world_has_the_setup_mail() {
        let mut guard = fixture().lock().unwrap_or_else(|p| p.into_inner());
        let Fixture {
            runtime,
            listener,
            template,
            ..
        } = &mut *guard;
        let out = runtime.block_on(async {
            let world = World::copy_of(template, 999_999).await;
            let input: &[u8] = b"c FETCH 1:* (FLAGS)\r\nd STATUS Projects/2026 (MESSAGES)\r\n";
            let out = converse(listener, &world.ctx, &[PREFIXES[2], input], 1 << 20).await;
            world.close().await;
            String::from_utf8_lossy(&out).into_owned()
        });
        assert!(out.contains("a OK "), "{out}");
        assert!(out.contains("* 4 EXISTS"), "{out}");
        assert!(out.contains("* 1 FETCH (FLAGS (\\Flagged))"), "{out}");
        assert!(out.contains("(MESSAGES 2)"), "{out}");
        assert!(out.contains("d OK "), "{out}");
        // And the entry point itself, in every state, on a command that needs a reset.
        drop(guard);
        for mode in 0..4u8 {
            let mut input = vec![mode];
            input.extend_from_slice(b"x STORE 1 +FLAGS (\\Deleted)\r\ny EXPUNGE\r\n");
            session(&input);
        }
        // The fixture lives as long as the process; this test is its only user here.
        let guard = fixture().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(base) = guard.template.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}
