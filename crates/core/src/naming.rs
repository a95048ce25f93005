//! Mailbox addresses from Vietnamese names (R-ACC-3), configurable per province.
//!
//! Pure functions: the caller says which local parts are taken; nothing here looks anything up.
//! Rules, with the regulation's own examples (see `../shared/testdata/naming.tsv`):
//! - every diacritic is dropped, `đ/Đ` becomes `d`, lowercase, only `[a-z0-9.]` remain;
//! - units: the words of the name without "và" and "-"; three words or more are abbreviated to
//!   their initials ("Sở Thông tin và Truyền thông" → `stttt`), fewer are written out;
//!   the An Giang style writes the kind as a prefix (`so`, `ban`, `hoi`, `nganh`) and applies the
//!   rule to the rest ("Sở Y tế" → `soyte`);
//! - a division (phòng) is `division.parent`;
//! - a commune / ward / township is its folded name; on a clash the district is added
//!   (`name.district`); when its name equals its district's, `xa` / `p` / `tt` goes in front;
//! - persons: given name followed by the initials of family and middle names
//!   ("Nguyễn Văn An" → `annv`; see `person_local_part` for the order of several middle names), clashes numbered with two digits in registration order
//!   (`annv01`, `annv02`);
//! - reserved names (postmaster, abuse, …) are never produced.

use crate::fold::fold_to_ascii_alnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamingStyle {
    /// Bắc Giang 27/2018/QĐ-UBND: initials of the whole name.
    BacGiang,
    /// An Giang 2016: kind prefix plus the rest of the name.
    AnGiang,
}

impl NamingStyle {
    pub fn from_token(token: &str) -> Option<Self> {
        match token {
            "bacgiang" => Some(NamingStyle::BacGiang),
            "angiang" => Some(NamingStyle::AnGiang),
            _ => None,
        }
    }
}

/// Kinds of unit (R-ACC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Province,
    /// sở
    Department,
    /// ban
    Board,
    /// hội
    Association,
    /// ngành
    Sector,
    /// huyện
    District,
    /// thị xã
    Town,
    /// thành phố
    City,
    /// phòng (a division of a department or a district)
    Division,
    /// xã
    Commune,
    /// phường
    Ward,
    /// thị trấn
    Township,
    Other,
}

impl UnitKind {
    pub fn from_token(token: &str) -> Option<Self> {
        Some(match token {
            "province" | "tinh" => UnitKind::Province,
            "department" | "so" => UnitKind::Department,
            "board" | "ban" => UnitKind::Board,
            "association" | "hoi" => UnitKind::Association,
            "sector" | "nganh" => UnitKind::Sector,
            "district" | "huyen" => UnitKind::District,
            "town" | "thixa" => UnitKind::Town,
            "city" | "thanhpho" => UnitKind::City,
            "division" | "phong" => UnitKind::Division,
            "commune" | "xa" => UnitKind::Commune,
            "ward" | "phuong" => UnitKind::Ward,
            "township" | "thitran" => UnitKind::Township,
            "other" => UnitKind::Other,
            _ => return None,
        })
    }

    /// The Vietnamese words a name of this kind starts with, folded ("Sở" → ["so"]).
    fn kind_words(self) -> &'static [&'static [&'static str]] {
        match self {
            UnitKind::Department => &[&["so"]],
            UnitKind::Board => &[&["ban"]],
            UnitKind::Association => &[&["hoi"]],
            UnitKind::Sector => &[&["nganh"]],
            UnitKind::District => &[&["huyen"]],
            UnitKind::Town => &[&["thi", "xa"]],
            UnitKind::City => &[&["thanh", "pho"]],
            UnitKind::Division => &[&["phong"]],
            UnitKind::Commune => &[&["xa"]],
            UnitKind::Ward => &[&["phuong"]],
            UnitKind::Township => &[&["thi", "tran"]],
            UnitKind::Province => &[&["tinh"], &["uy", "ban", "nhan", "dan", "tinh"]],
            UnitKind::Other => &[],
        }
    }

    /// The An Giang prefix for kinds that have one.
    fn angiang_prefix(self) -> Option<&'static str> {
        match self {
            UnitKind::Department => Some("so"),
            UnitKind::Board => Some("ban"),
            UnitKind::Association => Some("hoi"),
            UnitKind::Sector => Some("nganh"),
            _ => None,
        }
    }

    /// The prefix a commune-level unit gets when its name equals its district's.
    fn same_name_prefix(self) -> &'static str {
        match self {
            UnitKind::Ward => "p",
            UnitKind::Township => "tt",
            _ => "xa",
        }
    }

    fn is_commune_level(self) -> bool {
        matches!(
            self,
            UnitKind::Commune | UnitKind::Ward | UnitKind::Township
        )
    }
}

/// Local parts no generated address may take: RFC 2142 role mailboxes and system names.
pub const RESERVED: &[&str] = &[
    "postmaster",
    "abuse",
    "hostmaster",
    "webmaster",
    "security",
    "noc",
    "admin",
    "administrator",
    "root",
    "mailer-daemon",
    "mailerdaemon",
    "noreply",
    "no-reply",
    "nobody",
    "info",
    "support",
    "system",
    "operator",
];

pub fn is_reserved(local: &str) -> bool {
    RESERVED.contains(&local)
}

/// The words of a name, folded, without "và" and "-" (R-ACC-3).
fn folded_words(name: &str) -> Vec<String> {
    name.split(|c: char| c.is_whitespace() || c == '-' || c == ',' || c == '/')
        .map(fold_to_ascii_alnum)
        .filter(|w| !w.is_empty() && w != "va")
        .collect()
}

/// Three words or more: initials; fewer: the words written out.
fn abbreviate(words: &[String]) -> String {
    if words.len() >= 3 {
        words.iter().filter_map(|w| w.chars().next()).collect()
    } else {
        words.concat()
    }
}

/// Removes the leading kind words ("Sở", "Thị trấn") if the name starts with them.
fn strip_kind(kind: UnitKind, words: &[String]) -> &[String] {
    for prefix in kind.kind_words() {
        if words.len() > prefix.len() && words.iter().zip(prefix.iter()).all(|(w, p)| w == p) {
            return &words[prefix.len()..];
        }
    }
    words
}

/// What the naming of a unit needs to know about where it sits.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitPlace<'a> {
    /// The local part of the parent unit's address (for divisions: `division.parent`).
    pub parent_local: Option<&'a str>,
    /// For commune-level units: the district's name ("Huyện Lục Nam").
    pub district_name: Option<&'a str>,
}

/// The local part for a new unit, avoiding `taken` and reserved names. `None` when the name has
/// no letters at all or every candidate is taken.
pub fn unit_local_part(
    style: NamingStyle,
    kind: UnitKind,
    name: &str,
    place: UnitPlace<'_>,
    taken: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let words = folded_words(name);
    if words.is_empty() {
        return None;
    }
    let base = if kind.is_commune_level() {
        let own = strip_kind(kind, &words).concat();
        let district_words = place.district_name.map(folded_words).unwrap_or_default();
        let district = strip_district(&district_words).concat();
        if !district.is_empty() && own == district {
            format!("{}{own}", kind.same_name_prefix())
        } else if !taken(&own) && !is_reserved(&own) {
            own
        } else if !district.is_empty() {
            format!("{own}.{district}")
        } else {
            own
        }
    } else {
        let core = match (style, kind.angiang_prefix()) {
            (NamingStyle::AnGiang, Some(prefix)) => {
                format!("{prefix}{}", abbreviate(strip_kind(kind, &words)))
            }
            _ => abbreviate(&words),
        };
        match (kind, place.parent_local) {
            (UnitKind::Division, Some(parent)) => format!("{core}.{parent}"),
            _ => core,
        }
    };
    first_free(&base, taken)
}

fn strip_district(words: &[String]) -> &[String] {
    for kind in [UnitKind::District, UnitKind::Town, UnitKind::City] {
        let stripped = strip_kind(kind, words);
        if stripped.len() != words.len() {
            return stripped;
        }
    }
    words
}

/// The local part for a person: given name + initials of family and middle names.
///
/// Bắc Giang writes the initials in name order ("Lê Thị Hồng Nhung" → `nhunglth`); An Giang's
/// published example writes the family initial, then the middle names from the given name
/// outwards ("Nguyễn Thị Kim Ngân" → `ngannkt`). With one middle name both agree.
pub fn person_local_part(
    style: NamingStyle,
    full_name: &str,
    taken: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let words = folded_words(full_name);
    let (given, others) = words.split_last()?;
    let initial = |w: &String| w.chars().next();
    let initials: String = match (style, others.split_first()) {
        (NamingStyle::AnGiang, Some((family, middle))) => initial(family)
            .into_iter()
            .chain(middle.iter().rev().filter_map(initial))
            .collect(),
        _ => others.iter().filter_map(initial).collect(),
    };
    first_free(&format!("{given}{initials}"), taken)
}

/// `base` if free, else `base01`, `base02`, … `base99` (R-ACC-3: a clash gets a two-digit
/// registration number).
fn first_free(base: &str, taken: &dyn Fn(&str) -> bool) -> Option<String> {
    if base.is_empty() {
        return None;
    }
    if !taken(base) && !is_reserved(base) {
        return Some(base.to_string());
    }
    (1..100)
        .map(|n| format!("{base}{n:02}"))
        .find(|c| !taken(c) && !is_reserved(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    fn none(_: &str) -> bool {
        false
    }

    /// The province's own examples, `../shared/testdata/naming.tsv`, in registration order.
    const TABLE: &str = include_str!("../testdata/naming.tsv");

    #[test]
    fn regulation_examples() {
        let taken: RefCell<HashSet<(String, String)>> = RefCell::new(HashSet::new());
        let mut checked = 0;
        for line in TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            let (style, kind, name, parent, expected) =
                (cols[0], cols[1], cols[2], cols[3], cols[4]);
            let style_enum = NamingStyle::from_token(style).expect("style");
            let is_taken = |l: &str| taken.borrow().contains(&(style.to_string(), l.to_string()));
            let got = if kind == "person" {
                person_local_part(style_enum, name, &is_taken)
            } else {
                let kind = UnitKind::from_token(kind).expect("kind");
                let place = UnitPlace {
                    parent_local: (!parent.is_empty()).then_some(parent),
                    district_name: None,
                };
                unit_local_part(style_enum, kind, name, place, &is_taken)
            };
            assert_eq!(got.as_deref(), Some(expected), "{line}");
            taken
                .borrow_mut()
                .insert((style.to_string(), expected.to_string()));
            checked += 1;
        }
        assert!(checked >= 13);
    }

    #[test]
    fn persons() {
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "Nguyễn Văn An", &none).as_deref(),
            Some("annv")
        );
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "Trần Thị Thu Hà", &none).as_deref(),
            Some("hattt")
        );
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "Đặng Thị Hương", &none).as_deref(),
            Some("huongdt")
        );
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "An", &none).as_deref(),
            Some("an")
        );
        assert_eq!(person_local_part(NamingStyle::BacGiang, "  ", &none), None);
        let taken = |l: &str| l == "annv" || l == "annv01";
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "Nguyễn Văn An", &taken).as_deref(),
            Some("annv02")
        );
    }

    #[test]
    fn units() {
        let bg = NamingStyle::BacGiang;
        assert_eq!(
            unit_local_part(
                bg,
                UnitKind::Department,
                "Sở Tài nguyên và Môi trường",
                UnitPlace::default(),
                &none
            )
            .as_deref(),
            Some("stnmt")
        );
        assert_eq!(
            unit_local_part(
                bg,
                UnitKind::Division,
                "Phòng Công nghệ thông tin",
                UnitPlace {
                    parent_local: Some("stttt"),
                    district_name: None
                },
                &none
            )
            .as_deref(),
            Some("pcntt.stttt")
        );
        assert_eq!(
            unit_local_part(
                bg,
                UnitKind::Department,
                "Sở Kế hoạch - Đầu tư",
                UnitPlace::default(),
                &none
            )
            .as_deref(),
            Some("skhdt")
        );
    }

    #[test]
    fn communes() {
        let bg = NamingStyle::BacGiang;
        let district = UnitPlace {
            parent_local: Some("lucnam"),
            district_name: Some("Huyện Lục Nam"),
        };
        assert_eq!(
            unit_local_part(bg, UnitKind::Commune, "Xã Tiên Hưng", district, &none).as_deref(),
            Some("tienhung")
        );
        assert_eq!(
            unit_local_part(bg, UnitKind::Township, "Thị trấn Lục Nam", district, &none).as_deref(),
            Some("ttlucnam")
        );
        let taken = |l: &str| l == "tienhung";
        assert_eq!(
            unit_local_part(bg, UnitKind::Commune, "Xã Tiên Hưng", district, &taken).as_deref(),
            Some("tienhung.lucnam")
        );
    }

    #[test]
    fn reserved_names_are_never_produced() {
        assert_eq!(
            person_local_part(NamingStyle::BacGiang, "Admin", &none).as_deref(),
            Some("admin01")
        );
        for r in RESERVED {
            assert!(is_reserved(r));
        }
    }

    #[test]
    fn output_alphabet() {
        for name in [
            "Ủy ban nhân dân tỉnh Bắc Giang",
            "Hội Liên hiệp Phụ nữ",
            "Ngô Thị Ánh-Tuyết",
        ] {
            let got = unit_local_part(
                NamingStyle::BacGiang,
                UnitKind::Other,
                name,
                UnitPlace::default(),
                &none,
            )
            .unwrap_or_default();
            assert!(
                got.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.'),
                "{got}"
            );
        }
    }
}
