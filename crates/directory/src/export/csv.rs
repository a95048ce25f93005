//! CSV (RFC 4180): a header row, CRLF line ends, UTF-8, and a field quoted when it holds a
//! comma, a double quote, CR or LF (§2 rules 5–7), with its quotes doubled.

use crate::{Entry, EntryKind};

/// The header row's column names, in order.
pub const COLUMNS: [&str; 9] = [
    "display_name",
    "address",
    "kind",
    "unit",
    "unit_address",
    "unit_path",
    "title",
    "phone",
    "suspended",
];

pub fn to_csv<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let mut out = String::new();
    write_record(&mut out, COLUMNS);
    for e in entries {
        let kind = match e.kind {
            EntryKind::Person => "person",
            EntryKind::Unit => "unit",
        };
        let path = super::path_text(e);
        write_record(
            &mut out,
            [
                e.display_name.as_str(),
                e.address.as_str(),
                kind,
                e.unit_name(),
                e.unit_address(),
                path.as_str(),
                e.title.as_str(),
                e.phone.as_str(),
                if e.suspended { "yes" } else { "no" },
            ],
        );
    }
    out
}

fn write_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::PathUnit;

    #[test]
    fn quotes_only_what_needs_it() {
        let e = Entry {
            address: "annv@bacgiang.gov.vn".into(),
            display_name: "Nguyễn Văn \"Út\" An, Jr.".into(),
            kind: EntryKind::Person,
            suspended: false,
            unit_path: vec![PathUnit {
                id: 1,
                name: "Sở Thông tin và Truyền thông".into(),
                address: Some("stttt@bacgiang.gov.vn".into()),
            }],
            title: "Trưởng phòng\nCNTT".into(),
            phone: "0204 3854 000".into(),
        };
        let text = to_csv([&e]);
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next(),
            Some("display_name,address,kind,unit,unit_address,unit_path,title,phone,suspended")
        );
        assert_eq!(
            &text[text.find("\r\n").map(|i| i + 2).unwrap_or(0)..],
            "\"Nguyễn Văn \"\"Út\"\" An, Jr.\",annv@bacgiang.gov.vn,person,\
             Sở Thông tin và Truyền thông,stttt@bacgiang.gov.vn,Sở Thông tin và Truyền thông,\
             \"Trưởng phòng\nCNTT\",0204 3854 000,no\r\n"
        );
    }
}
