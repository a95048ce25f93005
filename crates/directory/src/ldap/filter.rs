//! Search filters (RFC 4511 §4.5.1.7) evaluated against one node, in the three-valued logic
//! the RFC prescribes: TRUE, FALSE or Undefined, and only TRUE returns the entry.
//!
//! Matching is case-insensitive, and diacritic-insensitive when the assertion has no
//! diacritics (`crate::text`): `(cn=*nguyen*)` and `(cn=*Nguyễn*)` both find "Nguyễn Văn An".
//! A filter on an attribute type this directory does not know, and every extensible match,
//! is Undefined (§4.5.1.7: "the server would not be able to determine whether the assertion
//! value matches").

use super::tree::{Node, canonical};
use crate::text::{Mode, Needle, Substrings};
use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

/// RFC 4511 §4.5.1.7's three values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Undefined,
}

impl From<bool> for Truth {
    fn from(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

/// Filters nested deeper than this are refused before evaluation (the codec bounds the BER
/// depth too; this keeps evaluation's recursion bounded on its own).
pub const MAX_DEPTH: usize = 32;

/// Whether a filter nests deeper than [`MAX_DEPTH`].
pub fn too_deep(filter: &LdapFilter) -> bool {
    fn depth(f: &LdapFilter, level: usize) -> bool {
        if level > MAX_DEPTH {
            return true;
        }
        match f {
            LdapFilter::And(v) | LdapFilter::Or(v) => v.iter().any(|f| depth(f, level + 1)),
            LdapFilter::Not(f) => depth(f, level + 1),
            _ => false,
        }
    }
    depth(filter, 0)
}

pub fn evaluate(filter: &LdapFilter, node: &Node) -> Truth {
    match filter {
        // RFC 4526: the empty AND is TRUE, the empty OR is FALSE.
        LdapFilter::And(items) => {
            let mut result = Truth::True;
            for item in items {
                match evaluate(item, node) {
                    Truth::False => return Truth::False,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::True => {}
                }
            }
            result
        }
        LdapFilter::Or(items) => {
            let mut result = Truth::False;
            for item in items {
                match evaluate(item, node) {
                    Truth::True => return Truth::True,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::False => {}
                }
            }
            result
        }
        LdapFilter::Not(inner) => match evaluate(inner, node) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        },
        LdapFilter::Equality(attr, value) => with_values(node, attr, |values| {
            let needle = Needle::new(value);
            values.iter().any(|v| needle.equals(v))
        }),
        LdapFilter::Approx(attr, value) => {
            // §4.5.1.7.6 leaves approximate matching to the server: ignore diacritics always.
            with_values(node, attr, |values| {
                let value = Mode::Folded.prepare(value);
                values.iter().any(|v| Mode::Folded.prepare(v) == value)
            })
        }
        LdapFilter::Substring(
            attr,
            LdapSubstringFilter {
                initial,
                any,
                final_,
            },
        ) => {
            let pattern = Substrings::new(initial.as_deref(), any, final_.as_deref());
            with_values(node, attr, |values| {
                values.iter().any(|v| pattern.matches(v))
            })
        }
        LdapFilter::GreaterOrEqual(attr, value) => {
            let value = Mode::Folded.prepare(value);
            with_values(node, attr, |values| {
                values.iter().any(|v| Mode::Folded.prepare(v) >= value)
            })
        }
        LdapFilter::LessOrEqual(attr, value) => {
            let value = Mode::Folded.prepare(value);
            with_values(node, attr, |values| {
                values.iter().any(|v| Mode::Folded.prepare(v) <= value)
            })
        }
        LdapFilter::Present(attr) => match canonical(attr) {
            Some(name) => (!node.values(name).is_empty()).into(),
            None => Truth::False,
        },
        LdapFilter::Extensible(_) => Truth::Undefined,
    }
}

/// Undefined for an unknown attribute type, FALSE when the node lacks the attribute.
fn with_values(node: &Node, attr: &str, test: impl FnOnce(&[String]) -> bool) -> Truth {
    match canonical(attr) {
        None => Truth::Undefined,
        Some(name) => {
            let values = node.values(name);
            (!values.is_empty() && test(values)).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::PathUnit;
    use crate::ldap::tree::Tree;
    use crate::{Entry, EntryKind};
    use ldap3_proto::parse_ldap_filter_str;

    fn an() -> Entry {
        Entry {
            address: "annv@bacgiang.gov.vn".into(),
            display_name: "Nguyễn Văn An".into(),
            kind: EntryKind::Person,
            suspended: false,
            unit_path: vec![PathUnit {
                id: 2,
                name: "Sở Thông tin và Truyền thông".into(),
                address: Some("stttt@bacgiang.gov.vn".into()),
            }],
            title: "Chuyên viên".into(),
            phone: "0204 3854 000".into(),
        }
    }

    fn check(filter: &str) -> Truth {
        check_filter(&parse_ldap_filter_str(filter).expect("filter"))
    }

    fn check_filter(filter: &LdapFilter) -> Truth {
        let entries = [an()];
        let tree = Tree::new("dc=bacgiang,dc=gov,dc=vn", "bacgiang.gov.vn", &entries);
        let node = tree.nodes().last().expect("the person");
        evaluate(filter, &node)
    }

    #[test]
    fn values_with_spaces() {
        // The string parser of ldap3_proto stops at spaces; clients send BER, where they are fine.
        let eq = |a: &str, v: &str| LdapFilter::Equality(a.into(), v.into());
        assert_eq!(check_filter(&eq("cn", "nguyen van an")), Truth::True);
        assert_eq!(check_filter(&eq("CN", "NGUYỄN VĂN AN")), Truth::True);
        assert_eq!(check_filter(&eq("title", "chuyen vien")), Truth::True);
        assert_eq!(check_filter(&eq("cn", "nguyen van")), Truth::False);
        let approx = LdapFilter::Approx("cn".into(), "Nguyen  Van An".into());
        assert_eq!(check_filter(&approx), Truth::True);
        let sub = LdapFilter::Substring(
            "ou".into(),
            LdapSubstringFilter {
                initial: None,
                any: vec!["thong tin".into()],
                final_: None,
            },
        );
        assert_eq!(check_filter(&sub), Truth::True);
    }

    #[test]
    fn finds_nguyen_van_an_many_ways() {
        for f in [
            "(cn=*nguyen*)",
            "(cn=*Nguyễn*)",
            "(displayName=nguyen*)",
            "(mail=annv@bacgiang.gov.vn)",
            "(mail=an*)",
            "(sn=Nguyễn)",
            "(givenName=an)",
            "(telephoneNumber=*3854*)",
            "(objectClass=inetOrgPerson)",
            "(objectclass=*)",
            "(&(objectClass=person)(|(cn=*nguyen*)(mail=*nguyen*)))",
            "(!(cn=*tran*))",
            "(cn>=n)",
            "(commonName=*an)",
        ] {
            assert_eq!(check(f), Truth::True, "{f}");
        }
    }

    #[test]
    fn misses_what_it_should() {
        for f in [
            "(cn=*Nguyên*)",
            "(cn=nguyen)",
            "(mail=hattt*)",
            "(objectClass=organizationalUnit)",
            "(!(cn=*an*))",
            "(cn<=a)",
            "(nosuchattr=*)",
        ] {
            assert_eq!(check(f), Truth::False, "{f}");
        }
    }

    #[test]
    fn unknown_types_are_undefined_and_not_keeps_it() {
        assert_eq!(check("(nosuchattr=x)"), Truth::Undefined);
        assert_eq!(check("(!(nosuchattr=x))"), Truth::Undefined);
        assert_eq!(check("(|(nosuchattr=x)(cn=*an*))"), Truth::True);
        assert_eq!(check("(&(nosuchattr=x)(cn=*an*))"), Truth::Undefined);
        assert_eq!(check("(&(nosuchattr=x)(cn=*zz*))"), Truth::False);
    }

    #[test]
    fn depth_is_bounded() {
        let mut f = LdapFilter::Present("cn".into());
        for _ in 0..=MAX_DEPTH {
            f = LdapFilter::Not(Box::new(f));
        }
        assert!(too_deep(&f));
        assert!(!too_deep(&LdapFilter::Present("cn".into())));
    }
}
