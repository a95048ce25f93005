//! The directory written out for other programs: CSV for spreadsheets (RFC 4180) and vCard
//! 4.0 for address books (RFC 6350). Both are pure functions of the entries.

pub mod csv;
pub mod vcard;

pub use csv::to_csv;
pub use vcard::to_vcards;

/// The unit path as one line: "UBND tỉnh Bắc Giang / Sở Thông tin và Truyền thông".
pub fn path_text(entry: &crate::Entry) -> String {
    entry
        .unit_path
        .iter()
        .map(|u| u.name.as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}
