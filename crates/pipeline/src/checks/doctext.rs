//! The text of office documents, for the state-secret mark check (R-POL-7): DOCX, XLSX, PPTX
//! (Office Open XML, ECMA-376) and ODT/ODS (OpenDocument) are zip files of XML; PDF text comes
//! from lopdf. Paragraph and cell ends become line ends, so a stamp on a line of its own in
//! the document is a line of its own here.
//!
//! Invariant: bounded work: at most [`MAX_PART_BYTES`] of each XML part and
//! [`MAX_PDF_BYTES`] of decompressed PDF streams are read; a document that cannot be read
//! yields no text (the attachment stage has already judged its container).

use std::io::{Cursor, Read};

/// XML bytes read from one part of a document.
pub const MAX_PART_BYTES: u64 = 16 << 20;
/// Decompressed content-stream bytes lopdf may produce for one PDF.
pub const MAX_PDF_BYTES: usize = 64 << 20;

/// The parts of OOXML and OpenDocument files that hold text a stamp could be in, headers and
/// footers included.
fn is_text_part(name: &str) -> bool {
    let xml = name.ends_with(".xml");
    xml && (name == "word/document.xml"
        || name.starts_with("word/header")
        || name.starts_with("word/footer")
        || name == "xl/sharedStrings.xml"
        || name.starts_with("xl/worksheets/sheet")
        || name.starts_with("ppt/slides/slide")
        || name == "content.xml"
        || name == "styles.xml")
}

/// The text of `data` if it is a document we can read.
pub fn document_text(data: &[u8]) -> Option<String> {
    if data.starts_with(b"PK\x03\x04") {
        office_text(data)
    } else if data.starts_with(b"%PDF-") {
        pdf_text(data)
    } else {
        None
    }
}

fn office_text(data: &[u8]) -> Option<String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(data)).ok()?;
    let mut text = String::new();
    let mut found = false;
    for i in 0..zip.len() {
        let Ok(file) = zip.by_index(i) else {
            continue;
        };
        let is_text = file.name().map(|n| is_text_part(&n)).unwrap_or(false);
        if !is_text || file.encrypted() {
            continue;
        }
        let mut xml = Vec::new();
        if file.take(MAX_PART_BYTES).read_to_end(&mut xml).is_err() {
            continue;
        }
        found = true;
        text.push_str(&xml_text(&String::from_utf8_lossy(&xml)));
        text.push('\n');
    }
    found.then_some(text)
}

fn pdf_text(data: &[u8]) -> Option<String> {
    let doc = lopdf::Document::load_mem(data).ok()?;
    if doc.is_encrypted() {
        return None;
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text_with_limit(&pages, MAX_PDF_BYTES).ok()
}

/// Element names after which a line ends: paragraphs, headings, line breaks, shared strings,
/// cells (local names, any namespace prefix).
const LINE_ENDS: &[&str] = &["p", "h", "br", "line-break", "si", "c", "tc", "table-cell"];
/// Elements that stand for a space.
const SPACES: &[&str] = &["tab", "s"];

/// Text content of an XML document with line ends at paragraph-like elements and entities
/// decoded (XML 1.0 §4.6 predefined entities and character references).
pub fn xml_text(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() / 4);
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        push_decoded(&mut out, &rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            return out;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or(name);
        if (closing || self_closing) && LINE_ENDS.contains(&local) {
            out.push('\n');
        } else if SPACES.contains(&local) && !closing {
            out.push(' ');
        }
    }
    push_decoded(&mut out, rest);
    out
}

fn push_decoded(out: &mut String, mut text: &str) {
    while let Some(amp) = text.find('&') {
        out.push_str(&text[..amp]);
        let after = &text[amp + 1..];
        let Some(semi) = after.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            text = after;
            continue;
        };
        let entity = &after[..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                text = &after[semi + 1..];
            }
            None => {
                out.push('&');
                text = after;
            }
        }
    }
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docx_runs_join_and_paragraphs_break() {
        let xml = r#"<w:document><w:body><w:p><w:r><w:t>T&#7888;I </w:t></w:r><w:r><w:t>MẬT</w:t></w:r></w:p><w:p><w:r><w:t>Kính gửi &amp; đồng kính gửi</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(xml_text(xml), "TỐI MẬT\nKính gửi & đồng kính gửi\n");
    }

    #[test]
    fn odt_paragraphs_and_spaces() {
        let xml = r#"<office:text><text:p text:style-name="P1">TUYỆT<text:s/>MẬT</text:p><text:p>x</text:p></office:text>"#;
        assert_eq!(xml_text(xml), "TUYỆT MẬT\nx\n");
    }
}
