//! R-POL-7: a corpus of stamped and innocent Vietnamese texts, and the stage through the
//! pipeline: subject, body, DOCX/ODT/XLSX and PDF attachments; refused on submission,
//! quarantined inbound; "mật khẩu" and friends pass.

mod support;

use congvu_core::Verdict;
use congvu_pipeline::checks::marks::find_mark;
use congvu_pipeline::{Policy, Source};
use support::*;
use unicode_normalization::UnicodeNormalization;

/// Texts that carry a stamp, with the mark expected.
const STAMPED: &[(&str, &str)] = &[
    ("MẬT", "MẬT"),
    ("TỐI MẬT", "TỐI MẬT"),
    ("TUYỆT MẬT", "TUYỆT MẬT"),
    (
        "Kính gửi: Sở Nội vụ\n   TỐI   MẬT  \nBáo cáo tình hình",
        "TỐI MẬT",
    ),
    ("[MẬT] Báo cáo kết quả kiểm tra", "MẬT"),
    ("Kế hoạch phòng thủ (TỐI MẬT)", "TỐI MẬT"),
    ("«TUYỆT MẬT» Phương án tác chiến", "TUYỆT MẬT"),
    ("** TỐI MẬT **", "TỐI MẬT"),
    ("TUYỆT MẬT - Kế hoạch bảo vệ", "TUYỆT MẬT"),
    ("MẬT: Danh sách cán bộ diện quy hoạch", "MẬT"),
    ("Số: 12/BC-UBND\nĐộ mật: Tối mật\nNgày 5/3/2026", "TỐI MẬT"),
    ("ĐỘ MẬT: MẬT", "MẬT"),
    ("Độ mật: Tuyệt mật.", "TUYỆT MẬT"),
    ("Văn bản số 45\n[ TỐI MẬT ]\n", "TỐI MẬT"),
    ("{MẬT} Tờ trình", "MẬT"),
    ("----- MẬT -----", "MẬT"),
];

/// Texts with the word but no stamp.
const INNOCENT: &[&str] = &[
    "Đề nghị anh chị đổi mật khẩu trước ngày 30/6.",
    "MẬT KHẨU",
    "Giữ bí mật kinh doanh của doanh nghiệp là nghĩa vụ của cán bộ.",
    "BẢO VỆ BÍ MẬT NHÀ NƯỚC",
    "Mật độ dân số của tỉnh tăng 2% so với năm trước.",
    "MẬT ĐỘ DÂN SỐ",
    "Mật ong rừng Bắc Giang được giá.",
    "Quan hệ giữa hai đơn vị rất mật thiết.",
    "mật",
    "Mật",
    "Tài liệu Mật cần được quản lý theo quy định tại Nghị định 26.",
    "[Mật khẩu] Thông báo đổi mật khẩu",
    "(mật)",
    "Cuộc họp bàn về công tác bảo mật thông tin.",
    "Hướng dẫn phân loại độ mật của văn bản: xem phụ lục.",
    "TÀI LIỆU KHÔNG MẬT",
    "Anh ấy là mật thám trong tiểu thuyết.",
    "Thông tin MẬT THƯ của giải chạy",
];

#[test]
fn corpus_of_stamps_and_innocent_texts() {
    assert!(STAMPED.len() >= 15 && INNOCENT.len() >= 15);
    for (text, mark) in STAMPED {
        assert_eq!(
            find_mark(text),
            Some(*mark),
            "should find {mark} in {text:?}"
        );
        // Decomposed input (NFD, as cp1258 decoders produce) matches the same.
        let nfd: String = text.nfd().collect();
        assert_eq!(find_mark(&nfd), Some(*mark), "NFD {text:?}");
    }
    for text in INNOCENT {
        assert_eq!(find_mark(text), None, "false alarm on {text:?}");
    }
}

fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
        .collect();
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", doc.as_bytes()),
    ])
}

fn odt(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<text:p>{p}</text:p>"))
        .collect();
    let content = format!(
        "<office:document-content><office:body><office:text>{body}</office:text></office:body></office:document-content>"
    );
    zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
    ])
}

fn xlsx(cells: &[&str]) -> Vec<u8> {
    let si: String = cells
        .iter()
        .map(|c| format!("<si><t>{c}</t></si>"))
        .collect();
    let strings = format!("<sst>{si}</sst>");
    zip_of(&[("xl/sharedStrings.xml", strings.as_bytes())])
}

/// A one-page PDF whose text is `line`, written with a UCS-2 encoded Type0 font so that
/// Vietnamese letters survive (lopdf decodes UniGB-UCS2-H as UTF-16BE).
fn pdf(line: &str) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => "Arial",
        "Encoding" => "UniGB-UCS2-H",
    });
    let utf16: Vec<u8> = line.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let mut content = b"BT /F1 24 Tf 100 700 Td <".to_vec();
    for b in &utf16 {
        content.extend(format!("{b:02X}").bytes());
    }
    content.extend(b"> Tj ET");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

async fn run(source: Source, subject: &str, body: &str, att: &[(&str, &[u8])]) -> Verdict {
    let raw = message(subject, body, att);
    verdict(&pipeline(&Policy::default()), source, &raw).await
}

fn refusal(v: Verdict) -> String {
    match v {
        Verdict::Reject(r) => {
            assert_eq!((r.code, r.enhanced), (554, "5.7.1"));
            r.text
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn stamped_mail_is_refused_on_submission_and_quarantined_inbound() {
    let text = refusal(run(Source::Submission, "[TỐI MẬT] Kế hoạch", "x", &[]).await);
    assert!(text.contains("«TỐI MẬT»") && text.contains("tiêu đề") && text.contains("R-POL-7"));
    assert!(
        text.contains("may not be sent through this system"),
        "{text}"
    );

    let text = refusal(
        run(
            Source::Webmail,
            "Báo cáo",
            "Kính gửi\nTUYỆT MẬT\nNội dung",
            &[],
        )
        .await,
    );
    assert!(text.contains("nội dung thư"), "{text}");

    match run(Source::Mx, "Báo cáo", "MẬT\nNội dung", &[]).await {
        Verdict::Quarantine { reason } => assert!(reason.contains("«MẬT»"), "{reason}"),
        other => panic!("expected quarantine, got {other:?}"),
    }
}

#[tokio::test]
async fn stamps_inside_documents_are_found() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ke-hoach.docx",
            docx(&["UBND TỈNH BẮC GIANG", "TỐI MẬT", "KẾ HOẠCH"]),
        ),
        ("to-trinh.odt", odt(&["Độ mật: Mật", "Tờ trình"])),
        ("danh-sach.xlsx", xlsx(&["Họ tên", "TUYỆT MẬT"])),
        ("bao-cao.pdf", pdf("TỐI MẬT")),
    ];
    for (name, data) in &cases {
        let text = refusal(
            run(
                Source::Submission,
                "Gửi tài liệu",
                "Xem tệp.",
                &[(name, data)],
            )
            .await,
        );
        assert!(
            text.contains(&format!("tệp đính kèm «{name}»")),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn innocent_mail_and_documents_pass() {
    let body = "Kính gửi anh Bình,\nĐề nghị đổi mật khẩu hộp thư trước ngày 30/6.\nMật độ dân số: 1.000 người/km².\nTrân trọng.";
    let att = docx(&["Bảo vệ bí mật kinh doanh", "MẬT KHẨU"]);
    let pdf = pdf("Hướng dẫn đổi mật khẩu");
    let v = run(
        Source::Submission,
        "Đổi mật khẩu",
        body,
        &[("huong-dan.docx", &att), ("huong-dan.pdf", &pdf)],
    )
    .await;
    assert_eq!(
        v,
        Verdict::Accept {
            add_headers: vec![]
        }
    );
}
