//! The directory as an LDAP tree (RFC 4512 §2): what each entry is called and which
//! attributes it carries.
//!
//! ```text
//! dc=bacgiang,dc=gov,dc=vn                         dcObject, organization
//!   ou=people,…                                    organizationalUnit
//!     mail=annv@bacgiang.gov.vn,ou=people,…        inetOrgPerson (hộp thư cá nhân)
//!   ou=units,…                                     organizationalUnit
//!     mail=stttt@bacgiang.gov.vn,ou=units,…        organizationalUnit + extensibleObject (hộp thư cơ quan)
//! ```
//! Unit mailboxes carry `mail`, which organizationalUnit does not allow, hence
//! extensibleObject (RFC 4512 §4.3). Vietnamese names are written family name first, so
//! `sn` is the first word and `givenName` the last ("Nguyễn Văn An": sn Nguyễn, givenName An).

use super::dn::{Dn, escape_value};
use crate::export::path_text;
use crate::{Entry, EntryKind};

/// The attribute types this directory knows, with the other names clients use for them.
/// A filter on a type not listed here evaluates to Undefined (RFC 4511 §4.5.1.7).
const ATTRIBUTES: &[(&str, &[&str])] = &[
    ("objectClass", &["2.5.4.0"]),
    ("cn", &["commonName", "2.5.4.3"]),
    ("sn", &["surname", "2.5.4.4"]),
    ("givenName", &["gn", "2.5.4.42"]),
    ("displayName", &["2.16.840.1.113730.3.1.241"]),
    (
        "mail",
        &[
            "rfc822Mailbox",
            "email",
            "emailAddress",
            "0.9.2342.19200300.100.1.3",
        ],
    ),
    ("uid", &["userid", "0.9.2342.19200300.100.1.1"]),
    ("ou", &["organizationalUnitName", "department", "2.5.4.11"]),
    ("o", &["organizationName", "company", "2.5.4.10"]),
    ("title", &["2.5.4.12"]),
    ("telephoneNumber", &["2.5.4.20"]),
    ("description", &["2.5.4.13"]),
    ("dc", &["domainComponent", "0.9.2342.19200300.100.1.25"]),
    ("namingContexts", &[]),
    ("supportedLDAPVersion", &[]),
    ("supportedExtension", &[]),
    ("vendorName", &[]),
];

/// The canonical name of an attribute description (options such as `;lang-vi` dropped),
/// or `None` when this directory does not know it.
pub fn canonical(description: &str) -> Option<&'static str> {
    let name = description.split(';').next().unwrap_or_default().trim();
    ATTRIBUTES
        .iter()
        .find(|(canon, aliases)| {
            canon.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|(canon, _)| *canon)
}

/// One entry of the tree with its attributes (canonical names, values as text).
#[derive(Debug, Clone)]
pub struct Node {
    pub dn: Dn,
    /// The DN as written back to clients.
    pub dn_text: String,
    pub attrs: Vec<(&'static str, Vec<String>)>,
}

impl Node {
    fn new(dn_text: String) -> Node {
        Node {
            dn: Dn::parse(&dn_text).unwrap_or_default(),
            dn_text,
            attrs: Vec::new(),
        }
    }

    /// Adds the attribute unless its value is empty.
    fn with(mut self, name: &'static str, values: &[&str]) -> Node {
        let values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
            .collect();
        if !values.is_empty() {
            self.attrs.push((name, values));
        }
        self
    }

    /// The values of a known attribute (empty when the node has none).
    pub fn values(&self, canonical: &str) -> &[String] {
        self.attrs
            .iter()
            .find(|(n, _)| *n == canonical)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
    }
}

/// The tree over one snapshot of the directory.
pub struct Tree<'a> {
    pub base: Dn,
    base_text: String,
    /// The organisation named on the base entry (the mail domain).
    organisation: String,
    entries: &'a [Entry],
}

impl<'a> Tree<'a> {
    pub fn new(base_text: &str, organisation: &str, entries: &'a [Entry]) -> Tree<'a> {
        Tree {
            base: Dn::parse(base_text).unwrap_or_default(),
            base_text: base_text.to_string(),
            organisation: organisation.to_string(),
            entries,
        }
    }

    /// The DN of a mailbox's entry.
    pub fn dn_of(&self, entry: &Entry) -> String {
        let container = match entry.kind {
            EntryKind::Person => "people",
            EntryKind::Unit => "units",
        };
        format!(
            "mail={},ou={container},{}",
            escape_value(&entry.address),
            self.base_text
        )
    }

    /// Every entry of the tree: the base, the two containers, then the mailboxes.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        let dc = self
            .base
            .first()
            .filter(|(t, _)| *t == "dc")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let top = Node::new(self.base_text.clone())
            .with("objectClass", &["top", "dcObject", "organization"])
            .with("dc", &[&dc])
            .with("o", &[&self.organisation]);
        let people = Node::new(format!("ou=people,{}", self.base_text))
            .with("objectClass", &["top", "organizationalUnit"])
            .with("ou", &["people"])
            .with("description", &["Hộp thư cá nhân (personal mailboxes)"]);
        let units = Node::new(format!("ou=units,{}", self.base_text))
            .with("objectClass", &["top", "organizationalUnit"])
            .with("ou", &["units"])
            .with("description", &["Hộp thư cơ quan (unit mailboxes)"]);
        [top, people, units]
            .into_iter()
            .chain(self.entries.iter().map(|e| self.node_of(e)))
    }

    fn node_of(&self, e: &Entry) -> Node {
        let path = path_text(e);
        let local = e.address.split('@').next().unwrap_or_default();
        let top = e
            .unit_path
            .first()
            .map(|u| u.name.as_str())
            .unwrap_or_default();
        let node = Node::new(self.dn_of(e));
        match e.kind {
            EntryKind::Person => {
                let words: Vec<&str> = e.display_name.split_whitespace().collect();
                let (sn, given) = match words.as_slice() {
                    [] => (e.address.as_str(), ""),
                    [only] => (*only, ""),
                    [first, .., last] => (*first, *last),
                };
                node.with(
                    "objectClass",
                    &["top", "person", "organizationalPerson", "inetOrgPerson"],
                )
                .with("cn", &[&e.display_name])
                .with("displayName", &[&e.display_name])
                .with("sn", &[sn])
                .with("givenName", &[given])
                .with("mail", &[&e.address])
                .with("uid", &[local])
                .with("ou", &[e.unit_name()])
                .with("o", &[top])
                .with("title", &[&e.title])
                .with("telephoneNumber", &[&e.phone])
                .with("description", &[&path])
            }
            EntryKind::Unit => node
                .with(
                    "objectClass",
                    &["top", "organizationalUnit", "extensibleObject"],
                )
                .with("ou", &[&e.display_name])
                .with("cn", &[&e.display_name])
                .with("displayName", &[&e.display_name])
                .with("mail", &[&e.address])
                .with("uid", &[local])
                .with("o", &[top])
                .with("telephoneNumber", &[&e.phone])
                .with("description", &[&path]),
        }
    }

    /// Whether an entry with this DN exists (the base, a container or a mailbox).
    pub fn exists(&self, dn: &Dn) -> bool {
        if !dn.is_within(&self.base) {
            return false;
        }
        match dn.0.len() - self.base.0.len() {
            0 => true,
            1 => self.containers().iter().any(|c| c == dn),
            2 => self
                .entries
                .iter()
                .any(|e| Dn::parse(&self.dn_of(e)).is_ok_and(|d| &d == dn)),
            _ => false,
        }
    }

    /// For a DN that does not exist: the nearest entry above it that does (RFC 4511 §4.1.9
    /// matchedDN), or "" when it lies outside the tree.
    pub fn matched(&self, dn: &Dn) -> String {
        if !dn.is_within(&self.base) {
            return String::new();
        }
        for (container, name) in self.containers().iter().zip(["people", "units"]) {
            if dn.is_within(container) {
                return format!("ou={name},{}", self.base_text);
            }
        }
        self.base_text.clone()
    }

    fn containers(&self) -> [Dn; 2] {
        [
            self.base.child("ou", "people"),
            self.base.child("ou", "units"),
        ]
    }

    /// The root DSE (RFC 4512 §5.1): how clients find the naming context, and whether
    /// StartTLS is offered on this connection (RFC 4513 §3.1.1 lets clients look here).
    pub fn root_dse(&self, start_tls: bool) -> Node {
        // RFC 4532 "Who am I?", and RFC 4511 §4.14 StartTLS.
        let extensions: &[&str] = if start_tls {
            &["1.3.6.1.4.1.4203.1.11.3", "1.3.6.1.4.1.1466.20037"]
        } else {
            &["1.3.6.1.4.1.4203.1.11.3"]
        };
        Node::new(String::new())
            .with("objectClass", &["top"])
            .with("namingContexts", &[&self.base_text])
            .with("supportedLDAPVersion", &["3"])
            .with("supportedExtension", extensions)
            .with("vendorName", &["congvu"])
    }
}
