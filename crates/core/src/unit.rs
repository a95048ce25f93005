//! The tree of units (đơn vị, R-ACC-1): province → departments, boards, districts … →
//! divisions and communes. Pure walks over a list of `(id, parent)` nodes.
//!
//! Keeps true: every walk is bounded by the number of nodes, so a cycle in stored data (which
//! the store never creates, but a hand-edited database might hold) cannot loop forever; a
//! parent must exist before a child names it.

use crate::naming::UnitKind;

pub type UnitId = i64;

/// One node of the tree: what the walks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitNode {
    pub id: UnitId,
    pub parent: Option<UnitId>,
    pub kind: UnitKind,
    pub name: String,
}

/// The token a kind is stored and shown as (the inverse of `UnitKind::from_token`).
pub fn kind_token(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Province => "province",
        UnitKind::Department => "department",
        UnitKind::Board => "board",
        UnitKind::Association => "association",
        UnitKind::Sector => "sector",
        UnitKind::District => "district",
        UnitKind::Town => "town",
        UnitKind::City => "city",
        UnitKind::Division => "division",
        UnitKind::Commune => "commune",
        UnitKind::Ward => "ward",
        UnitKind::Township => "township",
        UnitKind::Other => "other",
    }
}

/// Every kind, for help texts and validation messages.
pub const KINDS: &[UnitKind] = &[
    UnitKind::Province,
    UnitKind::Department,
    UnitKind::Board,
    UnitKind::Association,
    UnitKind::Sector,
    UnitKind::District,
    UnitKind::Town,
    UnitKind::City,
    UnitKind::Division,
    UnitKind::Commune,
    UnitKind::Ward,
    UnitKind::Township,
    UnitKind::Other,
];

fn find(nodes: &[UnitNode], id: UnitId) -> Option<&UnitNode> {
    nodes.iter().find(|n| n.id == id)
}

/// The unit and its ancestors, nearest first (`[unit, parent, grandparent, …]`).
pub fn ancestors(nodes: &[UnitNode], id: UnitId) -> Vec<&UnitNode> {
    let mut out = Vec::new();
    let mut next = Some(id);
    while let Some(id) = next {
        if out.len() > nodes.len() || out.iter().any(|n: &&UnitNode| n.id == id) {
            break; // a cycle in stored data
        }
        match find(nodes, id) {
            Some(node) => {
                next = node.parent;
                out.push(node);
            }
            None => break,
        }
    }
    out
}

/// Whether `unit` is `ancestor` or lies below it: what a unit IT contact may act on (R-ACC-6:
/// their unit and its children).
pub fn is_within(nodes: &[UnitNode], unit: UnitId, ancestor: UnitId) -> bool {
    ancestors(nodes, unit).iter().any(|n| n.id == ancestor)
}

/// The district-level unit (huyện, thị xã, thành phố) a commune-level unit belongs to: the
/// nearest such ancestor, starting from `parent`.
pub fn district_of(nodes: &[UnitNode], parent: UnitId) -> Option<&UnitNode> {
    ancestors(nodes, parent)
        .into_iter()
        .find(|n| matches!(n.kind, UnitKind::District | UnitKind::Town | UnitKind::City))
}

/// The tree in display order: each unit followed by its children (by id), with its depth.
/// Units whose parent is missing, or that sit in a cycle of hand-edited data, are shown as
/// roots, so nothing stored is hidden.
pub fn tree_order(nodes: &[UnitNode]) -> Vec<(usize, &UnitNode)> {
    let mut sorted: Vec<&UnitNode> = nodes.iter().collect();
    sorted.sort_by_key(|n| n.id);
    let is_root = |n: &UnitNode| n.parent.is_none_or(|p| find(nodes, p).is_none());
    let starts = sorted
        .iter()
        .filter(|n| is_root(n))
        .chain(sorted.iter())
        .copied()
        .collect::<Vec<_>>();
    let mut out: Vec<(usize, &UnitNode)> = Vec::with_capacity(nodes.len());
    for start in starts {
        let mut stack = vec![(0, start)];
        while let Some((depth, node)) = stack.pop() {
            if out.iter().any(|(_, n)| n.id == node.id) {
                continue;
            }
            out.push((depth, node));
            for child in sorted.iter().rev().filter(|c| c.parent == Some(node.id)) {
                stack.push((depth + 1, child));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: UnitId, parent: Option<UnitId>, kind: UnitKind, name: &str) -> UnitNode {
        UnitNode {
            id,
            parent,
            kind,
            name: name.into(),
        }
    }

    fn province() -> Vec<UnitNode> {
        vec![
            node(1, None, UnitKind::Province, "UBND tỉnh Bắc Giang"),
            node(
                2,
                Some(1),
                UnitKind::Department,
                "Sở Thông tin và Truyền thông",
            ),
            node(3, Some(1), UnitKind::District, "Huyện Lục Nam"),
            node(4, Some(3), UnitKind::Division, "Phòng Nội vụ"),
            node(5, Some(3), UnitKind::Township, "Thị trấn Đồi Ngô"),
            node(6, Some(2), UnitKind::Division, "Phòng Bưu chính"),
        ]
    }

    #[test]
    fn within_is_own_unit_and_below() {
        let t = province();
        assert!(is_within(&t, 5, 3));
        assert!(is_within(&t, 3, 3));
        assert!(is_within(&t, 5, 1));
        assert!(!is_within(&t, 3, 5));
        assert!(!is_within(&t, 6, 3));
        assert!(!is_within(&t, 99, 1));
    }

    #[test]
    fn district_of_a_commune() {
        let t = province();
        assert_eq!(district_of(&t, 3).map(|n| n.id), Some(3));
        assert_eq!(district_of(&t, 4).map(|n| n.id), Some(3));
        assert_eq!(district_of(&t, 2).map(|n| n.id), None);
    }

    #[test]
    fn tree_lists_children_under_parents() {
        let t = province();
        let order: Vec<(usize, UnitId)> = tree_order(&t).iter().map(|(d, n)| (*d, n.id)).collect();
        assert_eq!(order, vec![(0, 1), (1, 2), (2, 6), (1, 3), (2, 4), (2, 5)]);
    }

    #[test]
    fn cycles_end() {
        let t = vec![
            node(1, Some(2), UnitKind::Other, "a"),
            node(2, Some(1), UnitKind::Other, "b"),
        ];
        assert_eq!(ancestors(&t, 1).len(), 2);
        assert!(!is_within(&t, 1, 3));
        // Neither is a root: both are still shown, once each.
        assert_eq!(tree_order(&t).len(), 2);
    }

    #[test]
    fn kind_tokens_round_trip() {
        for &kind in KINDS {
            assert_eq!(UnitKind::from_token(kind_token(kind)), Some(kind));
        }
    }
}
