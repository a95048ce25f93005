//! The forwarding policy (R-POL-6) as it applies to scripts: mail may be redirected only to
//! government domains. Checked at upload so the user learns it at once.

use congvu_core::forwarding::is_government_address;
use congvu_wire::sieve::Script;

/// Why `script` may not be stored, or `None` when every redirect stays inside
/// `government_domains` (each covering its subdomains).
pub fn redirect_refusal(script: &Script, government_domains: &[String]) -> Option<String> {
    for address in script.redirect_addresses() {
        if address.contains("${") {
            return Some(format!(
                "redirect \"{address}\" uses a variable, so the forwarding policy cannot check \
                 it; write the address out (forwarding is allowed only to government domains)"
            ));
        }
        if !is_government_address(address, government_domains) {
            return Some(format!(
                "redirect to {address} is refused: mail may be forwarded only to government \
                 domains ({}) under the province's rules (R-POL-6)",
                government_domains.join(", ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(script: &str) -> Option<String> {
        let script = congvu_wire::sieve::parse(script.as_bytes()).expect("parses");
        redirect_refusal(&script, &["gov.vn".to_string()])
    }

    #[test]
    fn government_domains_and_subdomains_only() {
        assert_eq!(check("redirect \"an@bacgiang.gov.vn\";"), None);
        assert_eq!(check("redirect \"an@gov.vn\";"), None);
        assert!(check("redirect \"an@gmail.com\";").is_some());
        assert!(check("redirect \"an@evilgov.vn\";").is_some());
        assert!(check("redirect \"an@gov.vn.evil.com\";").is_some());
        assert!(
            check("require \"variables\"; set \"d\" \"gmail.com\"; redirect \"an@${d}\";")
                .expect("refused")
                .contains("variable")
        );
    }
}
