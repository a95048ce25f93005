//! The forwarding rule of R-POL-6: mail may be forwarded automatically (Sieve `redirect`,
//! forwarding settings) only to government domains. One function, used where a script is
//! uploaded (ManageSieve) and again at delivery.

/// Whether `address` is inside `government_domains` (each covering its subdomains:
/// `gov.vn` allows `so.bacgiang.gov.vn`, never `evilgov.vn` or `gov.vn.evil.com`).
pub fn is_government_address(address: &str, government_domains: &[String]) -> bool {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return false;
    }
    government_domains.iter().any(|g| {
        let g = g
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        !g.is_empty() && (domain == g || domain.ends_with(&format!(".{g}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_their_subdomains_only() {
        let gov = ["gov.vn".to_string()];
        assert!(is_government_address("an@gov.vn", &gov));
        assert!(is_government_address("an@So.BacGiang.gov.vn", &gov));
        assert!(is_government_address("an@bacgiang.gov.vn.", &gov));
        assert!(!is_government_address("an@evilgov.vn", &gov));
        assert!(!is_government_address("an@gov.vn.evil.com", &gov));
        assert!(!is_government_address("an@gmail.com", &gov));
        assert!(!is_government_address("no-at-sign", &gov));
        assert!(!is_government_address("an@", &gov));
        assert!(!is_government_address("an@gov.vn", &[]));
        assert!(!is_government_address("an@x.vn", &[String::new()]));
    }
}
