//! DNS block lists (RFC 5782): the connecting address, reversed, under each configured zone
//! (`[spam] dnsbl`); an A record in 127.0.0.0/8 means "listed". Looked up through the same
//! resolver as sender authentication (`[outbound] dns`, or the system's).
//!
//! Keeps true: a list that does not answer, answers slowly or answers with an error code never
//! refuses or delays mail beyond [`LOOKUP_TIMEOUT`]: the rule simply does not match. Spamhaus
//! and others answer 127.255.255.x to say "you may not query" (blocked resolver, over quota);
//! that is not a listing.

use mail_auth::MessageAuthenticator;
use std::net::IpAddr;
use std::time::Duration;

/// All the lists together get this long for one message.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The name to look up for `ip` under `zone` (RFC 5782 §2.1 IPv4, §2.4 IPv6 nibbles), fully
/// qualified so no search domain is appended.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            out.push_str(zone);
            out.push('.');
            out
        }
    }
}

/// True for an answer that means "listed" (127.0.0.0/8 except the 127.255.255.0/24 error codes).
pub fn is_listing(answer: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

/// The zones among `zones` that list `ip`.
pub async fn listed_in(auth: &MessageAuthenticator, ip: IpAddr, zones: &[String]) -> Vec<String> {
    let lookups = zones.iter().map(|zone| async move {
        let name = query_name(ip, zone);
        match auth.ipv4_lookup_raw(&name).await {
            Ok(entry) => entry
                .entry
                .iter()
                .any(|a| is_listing(*a))
                .then(|| zone.clone()),
            Err(error) => {
                tracing::debug!(%error, name, "spam: DNSBL lookup gave no listing");
                None
            }
        }
    });
    let all = async {
        let mut found = Vec::new();
        for lookup in lookups {
            if let Some(zone) = lookup.await {
                found.push(zone);
            }
        }
        found
    };
    // Lists are few (one to three); looking them up one after another keeps this simple, and
    // the whole is bounded by one timeout.
    tokio::time::timeout(LOOKUP_TIMEOUT, all)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(?zones, "spam: DNSBL lookups timed out");
            Vec::new()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_follow_rfc_5782() {
        assert_eq!(
            query_name("192.0.2.99".parse().unwrap(), "zen.spamhaus.org"),
            "99.2.0.192.zen.spamhaus.org."
        );
        // RFC 5782 §2.4's own example.
        assert_eq!(
            query_name(
                "2001:db8:1:2:3:4:567:89ab".parse().unwrap(),
                "ugly.example.com."
            ),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com."
        );
    }

    #[test]
    fn error_codes_are_not_listings() {
        assert!(is_listing("127.0.0.2".parse().unwrap()));
        assert!(is_listing("127.0.0.10".parse().unwrap()));
        assert!(!is_listing("127.255.255.254".parse().unwrap()));
        assert!(!is_listing("10.0.0.2".parse().unwrap()));
    }
}
