//! Helpers shared by the pipeline's integration tests: crafted messages, a pipeline run, the
//! archive tools of Debian (`zip`, `7z`) and a real clamd started as a child process with a
//! one-signature database (no signature download is possible or needed).
#![allow(dead_code)]

use base64::Engine;
use congvu_core::Verdict;
use congvu_pipeline::{MessageContext, Pipeline, Policy, Source};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The EICAR anti-virus test file (68 bytes), and its `.hdb` line (md5:size:name).
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const EICAR_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";

/// A message with a text body and the given attachments (name, bytes), base64-encoded.
pub fn message(subject: &str, body: &str, attachments: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = format!(
        "From: an@sotttt.bacgiang.gov.vn\r\nTo: binh@sotttt.bacgiang.gov.vn\r\n\
         Subject: =?UTF-8?B?{}?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n\
         --XyZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(subject.as_bytes()),
        b64(body.as_bytes())
    );
    for (name, data) in attachments {
        m.push_str(&format!(
            "--XyZ\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(data)
        ));
    }
    m.push_str("--XyZ--\r\n");
    m.into_bytes()
}

fn b64(data: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    text.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

pub async fn verdict(pipeline: &Pipeline, source: Source, raw: &[u8]) -> Verdict {
    let index = congvu_wire::mime::parse_message(raw);
    let rcpt = vec!["binh@sotttt.bacgiang.gov.vn".to_string()];
    pipeline
        .check(&MessageContext {
            source,
            remote_ip: None,
            helo: None,
            mail_from: "an@sotttt.bacgiang.gov.vn",
            rcpt_to: &rcpt,
            authenticated: None,
            raw,
            index: &index,
        })
        .await
}

/// The policy's pipeline without the spam score (R-POL-5, tested in `checks::spam`), so these
/// tests see only the headers of the stage they are about.
pub fn pipeline(policy: &Policy) -> Pipeline {
    let mut policy = policy.clone();
    policy.spam.enabled = false;
    Pipeline::from_policy(&policy)
}

/// A small but well-formed PE file: DOS header, `e_lfanew`, "PE\0\0".
pub fn pe_file() -> Vec<u8> {
    let mut pe = vec![0u8; 256];
    pe[..2].copy_from_slice(b"MZ");
    pe[2] = 0x90;
    pe[0x3C] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe
}

/// A zip made in memory with the given (name, bytes) entries, deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Runs a Debian archive tool in `dir`; the tests need it (CI installs `zip` and `p7zip-full`).
pub fn run_tool(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is needed for this test (apt-get install zip p7zip-full): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// clamd from Debian's clamav-daemon, on a free loopback port, with only the EICAR signature.
pub struct Clamd {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Clamd {
    pub fn start() -> Clamd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test.hdb"), EICAR_HDB).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {d}\n\
                 TemporaryDirectory {d}\nLogFile {d}/clamd.log\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(clamd_binary())
            .arg(format!("--config-file={}", conf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("clamd is needed (apt-get install clamav-daemon): {e}"));
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "clamd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Clamd {
            child,
            address,
            _dir: dir,
        }
    }
}

fn clamd_binary() -> PathBuf {
    ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("clamd"))
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
