//! When to try again, and when to give up: pure functions of the attempt count and times,
//! so the rules are tested without waiting.
//!
//! RFC 5321 §4.5.4.1: retry at least 30 minutes apart (our default schedule starts faster,
//! 5 and 10 minutes, because most temporary failures are greylisting), and give up after
//! 4–5 days.

use std::time::Duration;

/// Seconds to wait after the `attempts`-th failed attempt (1 = the first): the schedule's
/// entry, its last one repeating; 1 hour when the schedule is empty.
pub fn retry_delay(schedule: &[Duration], attempts: u32) -> i64 {
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    let delay = schedule
        .get(index)
        .or(schedule.last())
        .copied()
        .unwrap_or(Duration::from_secs(3600));
    i64::try_from(delay.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// The message is older than `max_age`: stop trying and bounce.
pub fn is_expired(created_at: i64, now: i64, max_age: Duration) -> bool {
    now.saturating_sub(created_at) >= i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX)
}

/// A "delayed" notice is due: old enough, and none was sent before.
pub fn needs_delay_warning(created_at: i64, now: i64, after: Duration, warned: bool) -> bool {
    !warned && now.saturating_sub(created_at) >= i64::try_from(after.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_delay_repeats() {
        let s: Vec<Duration> = [300, 600, 1800]
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        assert_eq!(retry_delay(&s, 1), 300);
        assert_eq!(retry_delay(&s, 2), 600);
        assert_eq!(retry_delay(&s, 3), 1800);
        assert_eq!(retry_delay(&s, 9), 1800);
        assert_eq!(retry_delay(&s, 0), 300);
        assert_eq!(retry_delay(&[], 1), 3600);
        assert_eq!(
            retry_delay(&[Duration::from_millis(10)], 1),
            1,
            "never zero"
        );
    }

    #[test]
    fn expiry_and_warning() {
        let day = Duration::from_secs(86_400);
        assert!(!is_expired(1000, 1000 + 86_399, day));
        assert!(is_expired(1000, 1000 + 86_400, day));
        assert!(needs_delay_warning(
            0,
            4 * 3600,
            Duration::from_secs(4 * 3600),
            false
        ));
        assert!(!needs_delay_warning(
            0,
            4 * 3600,
            Duration::from_secs(4 * 3600),
            true
        ));
        assert!(!needs_delay_warning(
            0,
            3599,
            Duration::from_secs(3600),
            false
        ));
    }
}
