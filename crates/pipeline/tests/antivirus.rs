//! R-POL-4 against a real clamd (Debian's clamav-daemon, started here with a one-signature
//! database): EICAR is refused naming the signature, clean mail passes, and a clamd that is
//! gone or silent gives 451 4.7.1 — or passes with a header when `fail_open` is set.

mod support;

use congvu_core::Verdict;
use congvu_pipeline::checks::antivirus::{ScanAnswer, scan_instream};
use congvu_pipeline::policy::AntivirusPolicy;
use congvu_pipeline::{Policy, Source};
use support::*;

fn with_clamd(address: &str) -> Policy {
    Policy {
        antivirus: AntivirusPolicy {
            clamd: address.to_string(),
            timeout_seconds: 3,
            ..AntivirusPolicy::default()
        },
        ..Policy::default()
    }
}

#[tokio::test]
async fn eicar_is_refused_clean_mail_passes() {
    let clamd = Clamd::start();
    assert_eq!(
        scan_instream(&clamd.address, EICAR, 1 << 20).await.unwrap(),
        ScanAnswer::Infected("Eicar-Test-Signature.UNOFFICIAL".into())
    );
    // Larger than one INSTREAM chunk, clean.
    let big = vec![b'a'; 200_000];
    assert_eq!(
        scan_instream(&clamd.address, &big, 1 << 20).await.unwrap(),
        ScanAnswer::Clean
    );

    let pipeline = pipeline(&with_clamd(&clamd.address));
    let raw = message(
        "Tài liệu",
        "Xem tệp",
        &[("bang-ke.txt", b"so lieu"), ("eicar.txt", EICAR)],
    );
    match verdict(&pipeline, Source::Mx, &raw).await {
        Verdict::Reject(r) => {
            assert_eq!((r.code, r.enhanced), (554, "5.7.1"));
            assert!(r.text.contains("Eicar-Test-Signature"), "{}", r.text);
            assert!(
                r.text.contains("«eicar.txt»") && r.text.contains("R-POL-4"),
                "{}",
                r.text
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let raw = message("Tài liệu", "Xem tệp", &[("bang-ke.txt", b"so lieu")]);
    assert_eq!(
        verdict(&pipeline, Source::Submission, &raw).await,
        Verdict::Accept {
            add_headers: vec![]
        }
    );
}

#[tokio::test]
async fn scanner_unavailable_defers_unless_fail_open() {
    // A port nobody listens on, and a listener that never answers.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = free.local_addr().unwrap().to_string();
    drop(free);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let raw = message("x", "y", &[("a.txt", b"so lieu")]);
    for address in [&gone, &silent_addr] {
        let mut policy = with_clamd(address);
        policy.antivirus.timeout_seconds = 1;
        match verdict(&pipeline(&policy), Source::Mx, &raw).await {
            Verdict::Reject(r) => assert_eq!((r.code, r.enhanced), (451, "4.7.1"), "{r:?}"),
            other => panic!("{address}: expected 451, got {other:?}"),
        }
        policy.antivirus.fail_open = true;
        match verdict(&pipeline(&policy), Source::Mx, &raw).await {
            Verdict::Accept { add_headers } => {
                assert!(add_headers[0].starts_with("X-Congvu-Antivirus: not scanned"))
            }
            other => panic!("{address}: expected accept, got {other:?}"),
        }
    }
    // Without attachments nothing needs scanning.
    let plain = message("x", "only text", &[]);
    let policy = with_clamd(&gone);
    assert_eq!(
        verdict(&pipeline(&policy), Source::Mx, &plain).await,
        Verdict::Accept {
            add_headers: vec![]
        }
    );
}
