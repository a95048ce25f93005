//! The directory's entries and the search over them (R-ACC-4).
//!
//! An entry is a mailbox that is not revoked, of a person (hộp thư cá nhân) or of a unit
//! (hộp thư cơ quan), with the path of units above it. The operator's accounts are left out:
//! they are for administration, not for correspondence. Suspended mailboxes stay listed,
//! because mail to them is still delivered (R-ACC-5).

use crate::text::Needle;
use congvu_core::fold::fold_diacritics;
use congvu_store::{AccountKind, AccountState, Store, Unit, UnitId};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Person,
    Unit,
}

/// A unit on an entry's path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathUnit {
    pub id: UnitId,
    pub name: String,
    /// The unit mailbox's address, when the unit has one.
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub address: String,
    /// Full name as written ("Nguyễn Văn An", "Sở Thông tin và Truyền thông").
    pub display_name: String,
    pub kind: EntryKind,
    /// Suspended (khóa tạm thời): still receives mail, cannot log in.
    pub suspended: bool,
    /// The units from the top of the tree down to the entry's own unit (empty when the
    /// mailbox belongs to no unit). For a unit mailbox the last one is the unit itself.
    pub unit_path: Vec<PathUnit>,
    pub title: String,
    pub phone: String,
}

impl Entry {
    /// The unit the mailbox belongs to.
    pub fn unit(&self) -> Option<&PathUnit> {
        self.unit_path.last()
    }

    /// The unit's name, or "" without a unit.
    pub fn unit_name(&self) -> &str {
        self.unit().map(|u| u.name.as_str()).unwrap_or_default()
    }

    /// The unit's address, or "".
    pub fn unit_address(&self) -> &str {
        self.unit()
            .and_then(|u| u.address.as_deref())
            .unwrap_or_default()
    }

    /// Whether the entry's unit is `unit` or lies below it.
    pub fn is_within(&self, unit: UnitId) -> bool {
        self.unit_path.iter().any(|u| u.id == unit)
    }
}

/// The whole directory, sorted by unit path, then unit mailboxes before people, then name
/// (compared without diacritics, so "Đặng" sorts with "Dương").
pub async fn entries(store: &dyn Store) -> congvu_store::Result<Vec<Entry>> {
    let rows = store.directory_rows().await?;
    let units = store.list_units().await?;
    let addresses: HashMap<i64, &str> = rows
        .iter()
        .map(|r| (r.account, r.address.as_str()))
        .collect();
    let by_id: HashMap<UnitId, &Unit> = units.iter().map(|u| (u.id, u)).collect();
    let path_of = |unit: UnitId| -> Vec<PathUnit> {
        let mut path = Vec::new();
        let mut next = Some(unit);
        while let Some(id) = next {
            // Stored data could hold a cycle only if edited by hand; stop rather than loop.
            let Some(u) = by_id.get(&id) else { break };
            if path.iter().any(|p: &PathUnit| p.id == id) {
                break;
            }
            path.push(PathUnit {
                id,
                name: u.name.clone(),
                address: u
                    .account
                    .and_then(|a| addresses.get(&a))
                    .map(|a| a.to_string()),
            });
            next = u.parent;
        }
        path.reverse();
        path
    };
    let mut out: Vec<Entry> = rows
        .iter()
        .filter_map(|r| {
            let kind = match r.kind {
                AccountKind::Person => EntryKind::Person,
                AccountKind::Unit => EntryKind::Unit,
                AccountKind::Operator => return None,
            };
            if r.state == AccountState::Revoked {
                return None;
            }
            Some(Entry {
                address: r.address.clone(),
                display_name: r.display_name.clone(),
                kind,
                suspended: r.state == AccountState::Suspended,
                unit_path: r.unit.map(path_of).unwrap_or_default(),
                title: r.title.clone(),
                phone: r.phone.clone(),
            })
        })
        .collect();
    out.sort_by_cached_key(|e| {
        (
            e.unit_path
                .iter()
                .map(|u| fold_diacritics(&u.name))
                .collect::<Vec<_>>(),
            e.kind == EntryKind::Person,
            fold_diacritics(&e.display_name),
            e.address.clone(),
        )
    });
    Ok(out)
}

/// What `congvu directory search` and the web page look for; every given part must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Words found in the name, the address, the title or a unit's name on the path.
    pub text: Option<String>,
    /// Only entries whose unit (or a unit above it) has this name or address, in part.
    pub unit: Option<String>,
    /// Only entries whose title contains this.
    pub title: Option<String>,
    /// Only entries in this unit or below it.
    pub within: Option<UnitId>,
}

/// The entries that match `query`, in directory order.
pub fn search<'a>(entries: &'a [Entry], query: &Query) -> Vec<&'a Entry> {
    let needle = |q: &Option<String>| q.as_deref().map(Needle::new).filter(|n| !n.is_empty());
    let text = needle(&query.text);
    let unit = needle(&query.unit);
    let title = needle(&query.title);
    entries
        .iter()
        .filter(|e| {
            text.as_ref().is_none_or(|n| {
                n.is_in(&e.display_name)
                    || n.is_in(&e.address)
                    || n.is_in(&e.title)
                    || e.unit_path.iter().any(|u| n.is_in(&u.name))
            })
        })
        .filter(|e| {
            unit.as_ref().is_none_or(|n| {
                e.unit_path
                    .iter()
                    .any(|u| n.is_in(&u.name) || u.address.as_deref().is_some_and(|a| n.equals(a)))
            })
        })
        .filter(|e| title.as_ref().is_none_or(|n| n.is_in(&e.title)))
        .filter(|e| query.within.is_none_or(|u| e.is_within(u)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, address: &str, unit: &str, title: &str) -> Entry {
        Entry {
            address: address.into(),
            display_name: name.into(),
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
                    name: unit.into(),
                    address: Some("stttt@bacgiang.gov.vn".into()),
                },
            ],
            title: title.into(),
            phone: String::new(),
        }
    }

    #[test]
    fn search_by_name_unit_and_title() {
        let all = vec![
            entry(
                "Nguyễn Văn An",
                "annv@bacgiang.gov.vn",
                "Sở Thông tin và Truyền thông",
                "Chuyên viên",
            ),
            entry(
                "Đặng Thị Hương",
                "huongdt@bacgiang.gov.vn",
                "Sở Du lịch",
                "Giám đốc",
            ),
        ];
        let q = |text: &str| Query {
            text: Some(text.into()),
            ..Default::default()
        };
        let names = |found: Vec<&Entry>| -> Vec<String> {
            found.iter().map(|e| e.display_name.clone()).collect()
        };
        assert_eq!(names(search(&all, &q("nguyen van an"))), ["Nguyễn Văn An"]);
        assert_eq!(names(search(&all, &q("Nguyễn Văn An"))), ["Nguyễn Văn An"]);
        assert_eq!(
            names(search(&all, &q("Nguye\u{302}\u{303}n Va\u{306}n"))),
            ["Nguyễn Văn An"]
        );
        assert_eq!(names(search(&all, &q("dang"))), ["Đặng Thị Hương"]);
        assert_eq!(names(search(&all, &q("huongdt@"))), ["Đặng Thị Hương"]);
        assert_eq!(search(&all, &q("bac giang")).len(), 2, "a unit on the path");
        let by_unit = Query {
            unit: Some("du lich".into()),
            ..Default::default()
        };
        assert_eq!(names(search(&all, &by_unit)), ["Đặng Thị Hương"]);
        let by_title = Query {
            title: Some("giam doc".into()),
            ..Default::default()
        };
        assert_eq!(names(search(&all, &by_title)), ["Đặng Thị Hương"]);
        assert_eq!(search(&all, &Query::default()).len(), 2);
        assert!(search(&all, &q("Nguyên")).is_empty());
    }
}
