//! R-POL-3 through the whole pipeline: executables by name and content, inside zip, tar.gz and
//! 7z archives (nested), encrypted zip and 7z made by Debian's `zip -P` and `7z -p`, and bombs.

mod support;

use congvu_core::Verdict;
use congvu_pipeline::policy::{Action, AttachmentPolicy};
use congvu_pipeline::{Policy, Source};
use std::io::Write;
use support::*;

fn refused(v: &Verdict) -> String {
    match v {
        Verdict::Reject(reply) => {
            assert_eq!((reply.code, reply.enhanced), (554, "5.7.1"), "{reply:?}");
            reply.text.clone()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn check(source: Source, attachments: &[(&str, &[u8])]) -> Verdict {
    let raw = message(
        "Báo cáo",
        "Kính gửi anh Bình,\nxem tệp đính kèm.",
        attachments,
    );
    verdict(&pipeline(&Policy::default()), source, &raw).await
}

#[tokio::test]
async fn executable_by_name_is_refused_both_ways_in_both_languages() {
    for source in [Source::Mx, Source::Submission] {
        let text = refused(&check(source, &[("setup.exe", b"not really")]).await);
        assert!(text.contains("«setup.exe»"), "{text}");
        assert!(text.contains("tệp thực thi"), "{text}");
        assert!(text.contains("R-POL-3"), "{text}");
        assert!(text.contains("Executable attachment"), "{text}");
    }
    for name in ["run.BAT", "x.ps1", "a.pdf.scr", "lib.dll", "app.jar"] {
        refused(&check(Source::Submission, &[(name, b"x")]).await);
    }
}

#[tokio::test]
async fn executable_content_under_any_name_is_refused() {
    let text = refused(&check(Source::Mx, &[("hoadon.pdf", &pe_file())]).await);
    assert!(
        text.contains("hoadon.pdf") && text.contains("PE/MZ"),
        "{text}"
    );
    refused(
        &check(
            Source::Mx,
            &[("image.png", b"\x7fELF\x02\x01\x01\0\0\0\0\0")],
        )
        .await,
    );
    refused(&check(Source::Mx, &[("notes.txt", b"#!/bin/sh\nrm -rf ~\n")]).await);
    refused(
        &check(
            Source::Mx,
            &[("a.dat", &[0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1])],
        )
        .await,
    );
}

#[tokio::test]
async fn ordinary_attachments_pass() {
    let docs = zip_of(&[
        ("bao-cao/quy1.txt", b"so lieu"),
        ("ke-hoach.csv", b"a,b\n1,2\n"),
    ]);
    let v = check(
        Source::Submission,
        &[
            ("bao-cao.zip", &docs),
            ("anh.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            (
                "MZ-notes.txt",
                b"MZ was the first line of these meeting notes, nothing more.",
            ),
        ],
    )
    .await;
    assert_eq!(
        v,
        Verdict::Accept {
            add_headers: vec![]
        }
    );
}

#[tokio::test]
async fn executables_inside_archives_are_found() {
    let inner = zip_of(&[("readme.txt", b"hi"), ("tools/setup.exe", b"x")]);
    let text = refused(&check(Source::Mx, &[("goi.zip", &inner)]).await);
    assert!(text.contains("goi.zip/tools/setup.exe"), "{text}");

    // Renamed executable two zips deep.
    let pe = pe_file();
    let level2 = zip_of(&[("hinh.jpg", &pe)]);
    let level1 = zip_of(&[("anh.zip", &level2)]);
    let text = refused(&check(Source::Mx, &[("tai-lieu.zip", &level1)]).await);
    assert!(text.contains("tai-lieu.zip/anh.zip/hinh.jpg"), "{text}");

    // tar.gz with an ELF binary under an innocent name.
    let mut tar = tar::Builder::new(Vec::new());
    let elf = b"\x7fELF\x02\x01\x01\0 plus more bytes";
    let mut header = tar::Header::new_gnu();
    header.set_size(elf.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "bin/report.txt", &elf[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let tgz = gz.finish().unwrap();
    let text = refused(&check(Source::Mx, &[("backup.tgz", &tgz)]).await);
    assert!(
        text.contains("backup.tar/bin/report.txt") && text.contains("ELF"),
        "{text}"
    );
}

#[tokio::test]
async fn seven_zip_contents_are_inspected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chay.txt"), b"#!/bin/bash\necho hi\n").unwrap();
    run_tool(dir.path(), "7z", &["a", "-bd", "plain.7z", "chay.txt"]);
    let plain = std::fs::read(dir.path().join("plain.7z")).unwrap();
    let text = refused(&check(Source::Mx, &[("plain.7z", &plain)]).await);
    assert!(text.contains("plain.7z/chay.txt"), "{text}");

    std::fs::write(dir.path().join("so-lieu.txt"), b"so lieu").unwrap();
    run_tool(
        dir.path(),
        "7z",
        &["a", "-bd", "-pbimat", "locked.7z", "so-lieu.txt"],
    );
    run_tool(
        dir.path(),
        "7z",
        &["a", "-bd", "-pbimat", "-mhe=on", "hidden.7z", "so-lieu.txt"],
    );
    for name in ["locked.7z", "hidden.7z"] {
        let data = std::fs::read(dir.path().join(name)).unwrap();
        match check(Source::Mx, &[(name, &data)]).await {
            Verdict::Quarantine { reason } => assert!(reason.contains("mật khẩu"), "{reason}"),
            other => panic!("{name}: expected quarantine, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn encrypted_zip_is_quarantined_inbound_and_refused_on_submission() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("luong.xlsx"), b"not really a spreadsheet").unwrap();
    run_tool(
        dir.path(),
        "zip",
        &["-q", "-P", "matkhau123", "bang-luong.zip", "luong.xlsx"],
    );
    let data = std::fs::read(dir.path().join("bang-luong.zip")).unwrap();
    match check(Source::Mx, &[("bang-luong.zip", &data)]).await {
        Verdict::Quarantine { reason } => {
            assert!(reason.contains("bang-luong.zip/luong.xlsx"), "{reason}");
            assert!(reason.contains("Password-protected"), "{reason}");
        }
        other => panic!("expected quarantine, got {other:?}"),
    }
    let text = refused(&check(Source::Submission, &[("bang-luong.zip", &data)]).await);
    assert!(text.contains("có mật khẩu"), "{text}");
    assert!(text.contains("send it without a password"), "{text}");

    // An encrypted zip that also names an executable is refused outright, even inbound.
    std::fs::write(dir.path().join("setup.exe"), b"x").unwrap();
    run_tool(
        dir.path(),
        "zip",
        &["-q", "-P", "x", "both.zip", "luong.xlsx", "setup.exe"],
    );
    let data = std::fs::read(dir.path().join("both.zip")).unwrap();
    let text = refused(&check(Source::Mx, &[("both.zip", &data)]).await);
    assert!(text.contains("both.zip/setup.exe"), "{text}");

    // The operator may choose to tag instead.
    let policy = Policy {
        attachments: AttachmentPolicy {
            encrypted_inbound: Action::Tag,
            ..AttachmentPolicy::default()
        },
        ..Policy::default()
    };
    let data = std::fs::read(dir.path().join("bang-luong.zip")).unwrap();
    let raw = message("x", "y", &[("bang-luong.zip", &data)]);
    match verdict(&pipeline(&policy), Source::Mx, &raw).await {
        Verdict::Accept { add_headers } => {
            assert_eq!(
                add_headers,
                vec!["X-Congvu-Policy: R-POL-3 encrypted archive\r\n"]
            )
        }
        other => panic!("expected a tagged accept, got {other:?}"),
    }
}

#[tokio::test]
async fn bombs_are_stopped() {
    // Ratio: 32 MiB of zeros deflate to about 32 KiB.
    let zeros = vec![0u8; 32 << 20];
    let bomb = zip_of(&[("zeros.bin", &zeros)]);
    assert!(bomb.len() < 1 << 20);
    let text = refused(&check(Source::Mx, &[("bomb.zip", &bomb)]).await);
    assert!(text.contains("compression ratio"), "{text}");

    // Total size, with a small limit.
    let small = Policy {
        attachments: AttachmentPolicy {
            max_unpacked_bytes: 1 << 20,
            ..AttachmentPolicy::default()
        },
        ..Policy::default()
    };
    let two_mib = zip_of(&[("a.bin", &vec![7u8; 2 << 20])]);
    let raw = message("x", "y", &[("big.zip", &two_mib)]);
    let text = refused(&verdict(&pipeline(&small), Source::Mx, &raw).await);
    assert!(text.contains("MiB unpacked"), "{text}");

    // Depth: six zips in each other.
    let mut nested = zip_of(&[("a.txt", b"a")]);
    for i in 0..6 {
        nested = zip_of(&[(&format!("layer{i}.zip"), &nested)]);
    }
    let text = refused(&check(Source::Mx, &[("deep.zip", &nested)]).await);
    assert!(text.contains("nested more than 4"), "{text}");

    // Entry count.
    let many: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("f{i}.txt"), vec![])).collect();
    let refs: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let policy = Policy {
        attachments: AttachmentPolicy {
            max_entries: 20,
            ..AttachmentPolicy::default()
        },
        ..Policy::default()
    };
    let raw = message("x", "y", &[("many.zip", &zip_of(&refs))]);
    let text = refused(&verdict(&pipeline(&policy), Source::Mx, &raw).await);
    assert!(text.contains("more than 20 entries"), "{text}");
}

#[tokio::test]
async fn forwarded_message_attachments_are_inspected() {
    let inner = String::from_utf8(message("fw", "inner", &[("virus.exe", b"x")])).unwrap();
    let raw = format!(
        "Subject: Fw\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
         --o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
         --o\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--o--\r\n"
    );
    let v = verdict(&pipeline(&Policy::default()), Source::Mx, raw.as_bytes()).await;
    assert!(refused(&v).contains("virus.exe"));
}
