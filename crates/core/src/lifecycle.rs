//! The life of a mailbox (R-ACC-5) and of its password (R-POL-2), as pure rules.
//!
//! Mailbox states and the only moves between them:
//! ```text
//!   active ──suspend──▶ suspended ──resume──▶ active
//!   active | suspended ──revoke──▶ revoked ──restore──▶ active
//!   suspended ──restore──▶ active
//!   revoked ──purge (only once the retention period has run out)──▶ purged
//! ```
//! What each state means for the servers: suspended (khóa tạm thời) refuses logins but still
//! receives mail so nothing is lost; revoked (thu hồi) refuses logins and answers inbound mail
//! with `550 5.2.1`, its content kept for the retention period; purged is the end.
//!
//! Keeps true: a move not in the table is refused with an error naming the state and the
//! action, so nothing ever reaches a state the table does not allow. The clock is a parameter.

/// Where a mailbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxState {
    Active,
    /// khóa tạm thời
    Suspended,
    /// thu hồi
    Revoked,
    /// content removed after the retention period; nothing comes back from here
    Purged,
}

impl MailboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxState::Active => "active",
            MailboxState::Suspended => "suspended",
            MailboxState::Revoked => "revoked",
            MailboxState::Purged => "purged",
        }
    }
}

/// What an operator (or an approved request) does to a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    Suspend,
    Resume,
    Revoke,
    Restore,
    Purge,
}

impl LifecycleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Suspend => "suspend",
            LifecycleAction::Resume => "resume",
            LifecycleAction::Revoke => "revoke",
            LifecycleAction::Restore => "restore",
            LifecycleAction::Purge => "purge",
        }
    }

    /// "suspended", "resumed", …: for messages.
    pub fn past(self) -> &'static str {
        match self {
            LifecycleAction::Suspend => "suspended",
            LifecycleAction::Resume => "resumed",
            LifecycleAction::Revoke => "revoked",
            LifecycleAction::Restore => "restored",
            LifecycleAction::Purge => "purged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the mailbox is {state}: it cannot be {action}", state = .0.as_str(), action = .1.past())]
    NotAllowed(MailboxState, LifecycleAction),
    #[error(
        "a revoked mailbox is kept until {until} (seconds since the epoch); it cannot be purged before"
    )]
    RetentionNotOver { until: i64 },
}

/// The state after `action`, or why it is refused. `revoked_at` is when the mailbox was
/// revoked (for purging), `retention` the `[policy] revoked_retention` in seconds.
pub fn next_state(
    state: MailboxState,
    action: LifecycleAction,
    revoked_at: i64,
    retention: i64,
    now: i64,
) -> Result<MailboxState, LifecycleError> {
    use LifecycleAction as A;
    use MailboxState as S;
    match (state, action) {
        (S::Active, A::Suspend) => Ok(S::Suspended),
        (S::Suspended, A::Resume) => Ok(S::Active),
        (S::Active | S::Suspended, A::Revoke) => Ok(S::Revoked),
        (S::Suspended | S::Revoked, A::Restore) => Ok(S::Active),
        (S::Revoked, A::Purge) => {
            let until = revoked_at.saturating_add(retention);
            if now >= until {
                Ok(S::Purged)
            } else {
                Err(LifecycleError::RetentionNotOver { until })
            }
        }
        (state, action) => Err(LifecycleError::NotAllowed(state, action)),
    }
}

/// Where a password stands (R-POL-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    Valid,
    /// Expires within the warning period; the number of whole days left (0 = today).
    ExpiresSoon(u32),
    /// Older than the maximum age: the user must change it before logging in.
    Expired,
    /// A new or reset password: it must be changed at first use.
    MustChange,
}

/// Days before expiry from which the user is warned (R-POL-2; mails go out at 14, 7 and 1).
pub const EXPIRY_WARNING_DAYS: i64 = 14;
const DAY: i64 = 86_400;

/// The state of a password changed at `changed_at` (seconds), with `max_age` seconds of
/// validity (`[policy] user_password_max_age` or `admin_password_max_age`; 0 means never
/// expires). A reset password (`must_change`) must be changed whatever its age.
pub fn password_state(changed_at: i64, now: i64, max_age: i64, must_change: bool) -> PasswordState {
    if must_change {
        return PasswordState::MustChange;
    }
    if max_age <= 0 {
        return PasswordState::Valid;
    }
    let expires_at = changed_at.saturating_add(max_age);
    if now >= expires_at {
        return PasswordState::Expired;
    }
    let left = expires_at - now;
    // The warning period is never longer than the validity itself (short test policies).
    if left <= (EXPIRY_WARNING_DAYS * DAY).min(max_age / 2) {
        PasswordState::ExpiresSoon(u32::try_from(left / DAY).unwrap_or(u32::MAX))
    } else {
        PasswordState::Valid
    }
}

/// Whether `candidate` may be used again: `verify(candidate, hash)` must fail for the current
/// hash and each of the `keep` previous ones (R-POL-1 rule "no reuse of the last 5").
pub fn is_reused(
    candidate: &str,
    previous: &[String],
    keep: usize,
    verify: &dyn Fn(&str, &str) -> bool,
) -> bool {
    previous
        .iter()
        .take(keep)
        .any(|hash| verify(candidate, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleAction as A;
    use MailboxState as S;

    const YEAR: i64 = 365 * DAY;

    #[test]
    fn every_state_and_action() {
        // (from, action, expected) for every pair: the whole table, nothing left implicit.
        let table: &[(S, A, Option<S>)] = &[
            (S::Active, A::Suspend, Some(S::Suspended)),
            (S::Active, A::Resume, None),
            (S::Active, A::Revoke, Some(S::Revoked)),
            (S::Active, A::Restore, None),
            (S::Active, A::Purge, None),
            (S::Suspended, A::Suspend, None),
            (S::Suspended, A::Resume, Some(S::Active)),
            (S::Suspended, A::Revoke, Some(S::Revoked)),
            (S::Suspended, A::Restore, Some(S::Active)),
            (S::Suspended, A::Purge, None),
            (S::Revoked, A::Suspend, None),
            (S::Revoked, A::Resume, None),
            (S::Revoked, A::Revoke, None),
            (S::Revoked, A::Restore, Some(S::Active)),
            (S::Revoked, A::Purge, Some(S::Purged)),
            (S::Purged, A::Suspend, None),
            (S::Purged, A::Resume, None),
            (S::Purged, A::Revoke, None),
            (S::Purged, A::Restore, None),
            (S::Purged, A::Purge, None),
        ];
        assert_eq!(table.len(), 20);
        for &(from, action, expected) in table {
            // Revoked two years ago with one year of retention: purging is due.
            let got = next_state(from, action, 0, YEAR, 2 * YEAR).ok();
            assert_eq!(got, expected, "{from:?} --{action:?}-->");
        }
    }

    #[test]
    fn refusal_names_state_and_action() {
        let e = next_state(S::Active, A::Resume, 0, YEAR, 0).unwrap_err();
        assert_eq!(e.to_string(), "the mailbox is active: it cannot be resumed");
    }

    #[test]
    fn purge_waits_for_retention() {
        let revoked_at = 1_000;
        assert_eq!(
            next_state(
                S::Revoked,
                A::Purge,
                revoked_at,
                YEAR,
                revoked_at + YEAR - 1
            ),
            Err(LifecycleError::RetentionNotOver {
                until: revoked_at + YEAR
            })
        );
        assert_eq!(
            next_state(S::Revoked, A::Purge, revoked_at, YEAR, revoked_at + YEAR),
            Ok(S::Purged)
        );
    }

    #[test]
    fn password_states() {
        let max = 180 * DAY;
        let t0 = 1_700_000_000;
        assert_eq!(password_state(t0, t0, max, false), PasswordState::Valid);
        assert_eq!(
            password_state(t0, t0 + max - 15 * DAY, max, false),
            PasswordState::Valid
        );
        assert_eq!(
            password_state(t0, t0 + max - 14 * DAY, max, false),
            PasswordState::ExpiresSoon(14)
        );
        assert_eq!(
            password_state(t0, t0 + max - 7 * DAY + 5, max, false),
            PasswordState::ExpiresSoon(6)
        );
        assert_eq!(
            password_state(t0, t0 + max - 1, max, false),
            PasswordState::ExpiresSoon(0)
        );
        assert_eq!(
            password_state(t0, t0 + max, max, false),
            PasswordState::Expired
        );
        assert_eq!(
            password_state(t0, t0 + 10 * max, max, false),
            PasswordState::Expired
        );
        // A reset password must be changed even when fresh; no maximum age means never expires.
        assert_eq!(password_state(t0, t0, max, true), PasswordState::MustChange);
        assert_eq!(
            password_state(t0, t0 + 100 * YEAR, 0, false),
            PasswordState::Valid
        );
        // Test policies of seconds: "2s" expires after two seconds.
        assert_eq!(
            password_state(t0, t0 + 1, 2, false),
            PasswordState::ExpiresSoon(0)
        );
        assert_eq!(password_state(t0, t0 + 2, 2, false), PasswordState::Expired);
    }

    #[test]
    fn reuse_checks_only_the_kept_hashes() {
        let hashes: Vec<String> = ["h1", "h2", "h3"].iter().map(|s| s.to_string()).collect();
        let verify = |pw: &str, hash: &str| format!("h{pw}") == hash;
        assert!(is_reused("1", &hashes, 5, &verify));
        assert!(is_reused("3", &hashes, 3, &verify));
        assert!(!is_reused("3", &hashes, 2, &verify));
        assert!(!is_reused("9", &hashes, 5, &verify));
    }
}
