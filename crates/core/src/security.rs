//! Rules for abnormal use of a mailbox (R-POL-9), with no I/O and no clock: which network an
//! address belongs to, how long a source of failed logins must wait, and when a mailbox's
//! sending is far above its own history.
//!
//! The state (failure counts, known networks, hourly send counts) lives in the store; the
//! login check (`congvu_store::login`) and submission apply these rules to it.

use std::net::IpAddr;

/// The settings of `[security]`; times in seconds. [`SecurityPolicy::default`] turns every
/// check off (what library tests get); `congvu serve` starts from [`SecurityPolicy::RECOMMENDED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// Failed-login backoff on or off.
    pub login_backoff: bool,
    /// Failures of one login from one IP address before that pair must wait.
    pub login_failures_per_account: u32,
    /// Failures from one IP address (any login) before the address must wait.
    pub login_failures_per_ip: u32,
    /// Failures of one login from all addresses before logins from networks it has never
    /// used must wait (its known networks are not held back: a guesser elsewhere cannot lock
    /// the owner out).
    pub login_failures_per_account_all_ips: u32,
    /// A count is forgotten after this long without a failure.
    pub login_failure_window: i64,
    /// The first wait; each further failure doubles it, up to `login_backoff_max`.
    pub login_backoff_base: i64,
    pub login_backoff_max: i64,
    /// Alert on a successful login from a network the mailbox never used.
    pub new_network_alerts: bool,
    /// Loopback logins (127.0.0.0/8, ::1) alert too; off except for tests.
    pub alert_loopback: bool,
    /// Watch each mailbox's hourly sending.
    pub send_anomaly_alerts: bool,
    /// Sending anomaly: the current hour's count above `factor ×` the mailbox's average hour
    /// (hours with at least one message, over `send_history_days`) ...
    pub send_anomaly_factor: u32,
    /// ... and above this floor.
    pub send_anomaly_floor: u32,
    pub send_history_days: u32,
    /// After an anomaly, keep the mailbox's further remote mail in the queue until the
    /// operator releases it (`congvu queue release --address`).
    pub hold_outbound_on_anomaly: bool,
}

impl SecurityPolicy {
    /// Everything off.
    pub const OFF: SecurityPolicy = SecurityPolicy {
        login_backoff: false,
        login_failures_per_account: 5,
        login_failures_per_ip: 30,
        login_failures_per_account_all_ips: 20,
        login_failure_window: 15 * 60,
        login_backoff_base: 30,
        login_backoff_max: 15 * 60,
        new_network_alerts: false,
        alert_loopback: false,
        send_anomaly_alerts: false,
        send_anomaly_factor: 10,
        send_anomaly_floor: 100,
        send_history_days: 30,
        hold_outbound_on_anomaly: false,
    };

    /// The defaults of `[security]`: 5 failures of a login from one address (30 from one
    /// address for any login, 20 of a login from anywhere) within 15 minutes, then waits of
    /// 30 s doubling up to 15 minutes; alerts for new networks; an hour above 10 × the
    /// average and above 100 messages is an anomaly and holds further remote mail.
    pub const RECOMMENDED: SecurityPolicy = SecurityPolicy {
        login_backoff: true,
        new_network_alerts: true,
        send_anomaly_alerts: true,
        hold_outbound_on_anomaly: true,
        ..SecurityPolicy::OFF
    };
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy::OFF
    }
}

/// The network an address belongs to for "has this mailbox logged in from here before":
/// the /24 of an IPv4 address, the /48 of an IPv6 one (a site's usual allocation, RFC 6177),
/// IPv4-mapped IPv6 as IPv4. `None` when `ip` is not an address.
pub fn network_of(ip: &str) -> Option<String> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    Some(match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    })
}

/// True for loopback sources (127.0.0.0/8, ::1, IPv4-mapped loopback).
pub fn is_loopback(ip: &str) -> bool {
    ip.trim()
        .parse::<IpAddr>()
        .is_ok_and(|ip| canonical(ip).is_loopback())
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// How long to wait after `failures` failures when waiting starts at `threshold` failures:
/// `base` at the threshold, doubling with each failure after it, at most `max`. Zero below
/// the threshold (or when the threshold is 0: that limit is off).
pub fn backoff_delay(failures: u32, threshold: u32, base: i64, max: i64) -> i64 {
    if threshold == 0 || failures < threshold {
        return 0;
    }
    let doublings = (failures - threshold).min(32);
    base.max(1)
        .saturating_mul(1_i64 << doublings)
        .min(max.max(1))
}

/// The most messages an hour may have before it is an anomaly: `factor ×` the average of
/// the earlier hours with mail (rounded up), and at least `floor`.
pub fn send_threshold(history_sum: u64, history_hours: u64, factor: u32, floor: u32) -> u64 {
    let average = history_sum.div_ceil(history_hours.max(1));
    average
        .saturating_mul(u64::from(factor))
        .max(u64::from(floor))
}

/// True when `current` messages this hour are above the threshold.
pub fn is_send_anomaly(
    current: u64,
    history_sum: u64,
    history_hours: u64,
    factor: u32,
    floor: u32,
) -> bool {
    current > send_threshold(history_sum, history_hours, factor, floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of("203.0.113.77").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(network_of(" 10.1.2.3 ").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(
            network_of("2001:db8:abcd:12::1").as_deref(),
            Some("2001:db8:abcd::/48")
        );
        assert_eq!(
            network_of("::ffff:192.0.2.9").as_deref(),
            Some("192.0.2.0/24"),
            "IPv4-mapped is IPv4"
        );
        assert_eq!(network_of("not an ip"), None);
        assert_eq!(network_of(""), None);
    }

    #[test]
    fn loopback_is_all_of_127_and_ipv6_one() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.0.0.2"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("::ffff:127.0.0.1"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("garbage"));
    }

    #[test]
    fn backoff_doubles_from_the_threshold_up_to_the_cap() {
        assert_eq!(backoff_delay(4, 5, 30, 900), 0);
        assert_eq!(backoff_delay(5, 5, 30, 900), 30);
        assert_eq!(backoff_delay(6, 5, 30, 900), 60);
        assert_eq!(backoff_delay(8, 5, 30, 900), 240);
        assert_eq!(backoff_delay(10, 5, 30, 900), 900);
        assert_eq!(backoff_delay(u32::MAX, 5, 30, 900), 900, "no overflow");
        assert_eq!(backoff_delay(100, 0, 30, 900), 0, "threshold 0 is off");
    }

    #[test]
    fn anomaly_is_far_above_the_own_average_and_the_floor() {
        // No history: only the floor counts.
        assert_eq!(send_threshold(0, 0, 10, 100), 100);
        assert!(!is_send_anomaly(100, 0, 0, 10, 100));
        assert!(is_send_anomaly(101, 0, 0, 10, 100));
        // A heavy sender (50 an hour on average): 10 × 50 = 500.
        assert_eq!(send_threshold(5_000, 100, 10, 100), 500);
        assert!(!is_send_anomaly(300, 5_000, 100, 10, 100));
        assert!(is_send_anomaly(501, 5_000, 100, 10, 100));
        // The average rounds up: 3 messages in 2 hours is 2 an hour.
        assert_eq!(send_threshold(3, 2, 10, 0), 20);
    }

    #[test]
    fn recommended_turns_the_checks_on() {
        let p = SecurityPolicy::RECOMMENDED;
        assert!(p.login_backoff && p.new_network_alerts && p.hold_outbound_on_anomaly);
        assert!(!SecurityPolicy::default().login_backoff);
    }
}
