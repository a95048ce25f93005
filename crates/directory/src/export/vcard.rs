//! vCard 4.0 (RFC 6350), one card per entry: FN, N (people), KIND, EMAIL, ORG with the unit
//! path, TITLE, TEL, UID.
//!
//! Keeps true: text values are escaped (§3.4: `\`, `,`, `;` and newlines), compound values
//! (N, ORG) join escaped components with `;`, and every line is folded at 75 octets (§3.2)
//! without splitting a UTF-8 character, continuation lines starting with one space.

use crate::{Entry, EntryKind};

/// §3.2: "Lines of text SHOULD NOT be longer than 75 octets, excluding the line break."
const MAX_LINE_OCTETS: usize = 75;

pub fn to_vcards<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let mut out = String::new();
    for e in entries {
        write_card(&mut out, e);
    }
    out
}

fn write_card(out: &mut String, e: &Entry) {
    line(out, "BEGIN:VCARD");
    line(out, "VERSION:4.0");
    match e.kind {
        // §6.1.4: KIND "individual" is the default, "org" an organisation.
        EntryKind::Person => {
            line(out, "KIND:individual");
            let (family, given, middle) = name_parts(&e.display_name);
            line(
                out,
                &format!(
                    "N:{};{};{};;",
                    escape(family),
                    escape(given),
                    escape(&middle)
                ),
            );
        }
        EntryKind::Unit => line(out, "KIND:org"),
    }
    line(out, &format!("FN:{}", escape(&e.display_name)));
    line(out, &format!("EMAIL;TYPE=work:{}", escape(&e.address)));
    if !e.unit_path.is_empty() {
        let org: Vec<String> = e.unit_path.iter().map(|u| escape(&u.name)).collect();
        line(out, &format!("ORG:{}", org.join(";")));
    }
    if !e.title.is_empty() {
        line(out, &format!("TITLE:{}", escape(&e.title)));
    }
    if !e.phone.is_empty() {
        // §6.4.1: TEL is free-form text by default, which is what the store holds.
        line(out, &format!("TEL;TYPE=work:{}", escape(&e.phone)));
    }
    line(out, &format!("UID:mailto:{}", e.address));
    line(out, "END:VCARD");
}

/// A Vietnamese name is written family name first: "Nguyễn Văn An" is family "Nguyễn",
/// given "An", middle "Văn" (N's "additional names").
fn name_parts(full: &str) -> (&str, &str, String) {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.as_slice() {
        [] => ("", "", String::new()),
        [only] => ("", only, String::new()),
        [family, middle @ .., given] => (family, given, middle.join(" ")),
    }
}

/// §3.4 escaping of a text value (or one component of a compound value).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded (§3.2) at character boundaries.
fn line(out: &mut String, content: &str) {
    let mut used = 0;
    for c in content.chars() {
        if used + c.len_utf8() > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::PathUnit;

    fn person() -> Entry {
        Entry {
            address: "annv@bacgiang.gov.vn".into(),
            display_name: "Nguyễn Văn An".into(),
            kind: EntryKind::Person,
            suspended: false,
            unit_path: vec![
                PathUnit {
                    id: 1,
                    name: "UBND tỉnh Bắc Giang".into(),
                    address: None,
                },
                PathUnit {
                    id: 2,
                    name: "Sở Thông tin và Truyền thông".into(),
                    address: Some("stttt@bacgiang.gov.vn".into()),
                },
            ],
            title: "Trưởng phòng; kiêm nhiệm, tạm thời".into(),
            phone: "0204 3854 000".into(),
        }
    }

    /// Undoes §3.2 folding.
    fn unfold(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn a_person_card() {
        let card = to_vcards([&person()]);
        let lines: Vec<&str> = card.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "BEGIN:VCARD",
                "VERSION:4.0",
                "KIND:individual",
                "N:Nguyễn;An;Văn;;",
                "FN:Nguyễn Văn An",
                "EMAIL;TYPE=work:annv@bacgiang.gov.vn",
                "ORG:UBND tỉnh Bắc Giang;Sở Thông tin và Truyền thông",
                "TITLE:Trưởng phòng\\; kiêm nhiệm\\, tạm thời",
                "TEL;TYPE=work:0204 3854 000",
                "UID:mailto:annv@bacgiang.gov.vn",
                "END:VCARD",
                "",
            ]
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a\\b,c;d\r\ne\nf"), "a\\\\b\\,c\\;d\\ne\\nf");
    }

    #[test]
    fn long_lines_fold_at_75_octets_on_character_boundaries() {
        let mut e = person();
        e.unit_path[1].name =
            "Trung tâm Công nghệ thông tin và Truyền thông thuộc Sở Thông tin và Truyền thông tỉnh Bắc Giang"
                .into();
        let card = to_vcards([&e]);
        for l in card.split("\r\n") {
            assert!(l.len() <= MAX_LINE_OCTETS, "{} octets: {l:?}", l.len());
        }
        assert!(card.contains("\r\n "), "the ORG line was folded");
        assert!(unfold(&card).contains(&format!(
            "ORG:UBND tỉnh Bắc Giang;{}\r\n",
            e.unit_path[1].name
        )));
        // Every fold point is between characters: each physical line is valid UTF-8 on its own.
        for l in card.as_bytes().split(|b| *b == b'\n') {
            assert!(std::str::from_utf8(l).is_ok());
        }
    }

    #[test]
    fn a_unit_card_has_no_n() {
        let mut e = person();
        e.kind = EntryKind::Unit;
        e.display_name = "Sở Thông tin và Truyền thông".into();
        let card = to_vcards([&e]);
        assert!(card.contains("KIND:org\r\n"));
        assert!(!card.contains("\r\nN:"));
        assert_eq!(name_parts("An"), ("", "An", String::new()));
        assert_eq!(
            name_parts("Trần Thị Thu Hà"),
            ("Trần", "Hà", "Thị Thu".to_string())
        );
    }
}
