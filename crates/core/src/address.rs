//! E-mail addresses of hosted mailboxes.
//!
//! Hosted addresses are ASCII (R-ACC-3 generates `[a-z0-9.]` local parts); addresses of other
//! systems may be internationalised (RFC 6531) and are kept as given. Comparison of hosted
//! addresses is case-insensitive: the canonical form is lowercase.

use std::fmt;

/// RFC 5321 §4.5.3.1.1 and §4.5.3.1.2: local part at most 64 octets, domain at most 255.
pub const MAX_LOCAL_PART: usize = 64;
pub const MAX_DOMAIN: usize = 255;

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Address {
    local: String,
    domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address has no '@'")]
    MissingAt,
    #[error("the local part is empty or longer than 64 octets")]
    BadLocalPart,
    #[error("the domain is empty, longer than 255 octets or not a host name")]
    BadDomain,
    #[error("the address contains spaces, control characters or angle brackets")]
    BadCharacter,
}

impl Address {
    /// Parses `local@domain` (no angle brackets, no display name) and lowercases it.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let text = text.trim();
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err(AddressError::BadCharacter);
        }
        let (local, domain) = text.rsplit_once('@').ok_or(AddressError::MissingAt)?;
        if local.is_empty() || local.len() > MAX_LOCAL_PART {
            return Err(AddressError::BadLocalPart);
        }
        let domain = domain.trim_end_matches('.');
        if domain.is_empty()
            || domain.len() > MAX_DOMAIN
            || domain
                .split('.')
                .any(|label| label.is_empty() || label.len() > 63)
        {
            return Err(AddressError::BadDomain);
        }
        Ok(Address {
            local: local.to_lowercase(),
            domain: domain.to_lowercase(),
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let a = Address::parse("AnNV@BacGiang.Gov.VN").unwrap();
        assert_eq!(a.to_string(), "annv@bacgiang.gov.vn");
        assert_eq!(a.local(), "annv");
        assert_eq!(a.domain(), "bacgiang.gov.vn");
    }

    #[test]
    fn refuses_bad_addresses() {
        assert_eq!(Address::parse("annv"), Err(AddressError::MissingAt));
        assert_eq!(Address::parse("@x.vn"), Err(AddressError::BadLocalPart));
        assert_eq!(Address::parse("a@"), Err(AddressError::BadDomain));
        assert_eq!(Address::parse("a@x..vn"), Err(AddressError::BadDomain));
        assert_eq!(Address::parse("a b@x.vn"), Err(AddressError::BadCharacter));
        assert_eq!(
            Address::parse(&format!("{}@x.vn", "a".repeat(65))),
            Err(AddressError::BadLocalPart)
        );
    }
}
