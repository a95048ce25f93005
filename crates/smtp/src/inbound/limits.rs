//! Per-user sending limits of submission, and the bound on concurrent password checks.
//!
//! Keeps true:
//! - A login sends at most `max_messages_per_hour` messages in any sliding hour: a message
//!   is counted when its DATA is about to be stored (`try_reserve` checks and records in one
//!   step under one lock, so concurrent sessions of the same user cannot overshoot), and
//!   uncounted (`release`) when storing it then failed with a temporary error.
//! - Memory is bounded: each login keeps at most `max_messages_per_hour` instants, and
//!   logins whose hour is empty are dropped by a sweep every [`SWEEP_EVERY`] reservations.
//! - Time is a parameter (`now`), so the rules are tested without sleeping.
//!
//! The counts live in this process's memory. With one node that is exact; when several
//! nodes serve submission (the PostgreSQL deployment), each counts on its own, so a user
//! could send up to `nodes × limit` an hour. Shared counting belongs in PostgreSQL and comes
//! with that backend.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The window of `max_messages_per_hour`.
const HOUR: Duration = Duration::from_secs(3600);
/// Reservations between two sweeps of logins with an empty hour.
const SWEEP_EVERY: u64 = 1024;
/// Argon2id with the default parameters takes 19 MiB and tens of milliseconds per check;
/// more checks at once than this wait for a permit, so a flood of AUTH attempts can neither
/// exhaust memory nor starve the blocking thread pool.
pub const MAX_CONCURRENT_PASSWORD_CHECKS: usize = 4;

/// Shared state of every submission session of this process (lives in `SmtpContext`).
pub struct SubmissionLimits {
    sent: Mutex<Sent>,
    /// Permits for Argon2 verifications (see [`MAX_CONCURRENT_PASSWORD_CHECKS`]).
    pub(crate) password_checks: Semaphore,
}

#[derive(Default)]
struct Sent {
    /// Per login, when each message of the last hour was sent, oldest first.
    by_login: HashMap<String, VecDeque<Instant>>,
    reservations: u64,
}

impl Default for SubmissionLimits {
    fn default() -> Self {
        SubmissionLimits::new()
    }
}

impl SubmissionLimits {
    pub fn new() -> Self {
        SubmissionLimits {
            sent: Mutex::new(Sent::default()),
            password_checks: Semaphore::new(MAX_CONCURRENT_PASSWORD_CHECKS),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sent> {
        // The critical sections cannot panic half-way in a way that breaks the map's
        // meaning, so a poisoned lock is still usable.
        self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages `login` sent in the hour before `now`.
    pub fn sent_in_last_hour(&self, login: &str, now: Instant) -> usize {
        let mut sent = self.lock();
        match sent.by_login.get_mut(login) {
            Some(times) => {
                prune(times, now);
                times.len()
            }
            None => 0,
        }
    }

    /// Counts one message of `login` at `now` unless `limit` messages were already sent in
    /// the last hour; then returns that count as the error.
    pub fn try_reserve(&self, login: &str, now: Instant, limit: u32) -> Result<(), usize> {
        let mut sent = self.lock();
        sent.reservations += 1;
        if sent.reservations.is_multiple_of(SWEEP_EVERY) {
            sent.by_login.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        let times = sent.by_login.entry(login.to_string()).or_default();
        prune(times, now);
        if times.len() >= limit as usize {
            return Err(times.len());
        }
        times.push_back(now);
        Ok(())
    }

    /// Takes back a reservation made at `at` (the message was not accepted after all).
    pub fn release(&self, login: &str, at: Instant) {
        let mut sent = self.lock();
        if let Some(times) = sent.by_login.get_mut(login)
            && let Some(pos) = times.iter().rposition(|t| *t == at)
        {
            times.remove(pos);
        }
    }
}

/// Drops the instants older than an hour before `now`.
fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_over_a_sliding_hour() {
        let limits = SubmissionLimits::new();
        let t0 = Instant::now();
        assert_eq!(limits.try_reserve("an@x.vn", t0, 2), Ok(()));
        assert_eq!(
            limits.try_reserve("an@x.vn", t0 + Duration::from_secs(600), 2),
            Ok(())
        );
        assert_eq!(
            limits.try_reserve("an@x.vn", t0 + Duration::from_secs(1200), 2),
            Err(2)
        );
        // Another user has a count of their own.
        assert_eq!(
            limits.try_reserve("binh@x.vn", t0 + Duration::from_secs(1200), 2),
            Ok(())
        );
        // One hour after the first message, one slot is free again, and only one.
        let later = t0 + HOUR;
        assert_eq!(limits.sent_in_last_hour("an@x.vn", later), 1);
        assert_eq!(limits.try_reserve("an@x.vn", later, 2), Ok(()));
        assert_eq!(limits.try_reserve("an@x.vn", later, 2), Err(2));
    }

    #[test]
    fn a_released_reservation_frees_its_slot() {
        let limits = SubmissionLimits::new();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(limits.try_reserve("an@x.vn", t0, 2), Ok(()));
        assert_eq!(limits.try_reserve("an@x.vn", t1, 2), Ok(()));
        limits.release("an@x.vn", t1);
        assert_eq!(limits.sent_in_last_hour("an@x.vn", t1), 1);
        assert_eq!(limits.try_reserve("an@x.vn", t1, 2), Ok(()));
        // Releasing something never reserved changes nothing.
        limits.release("nobody@x.vn", t1);
        assert_eq!(limits.try_reserve("an@x.vn", t1, 2), Err(2));
    }

    #[test]
    fn idle_logins_are_swept() {
        let limits = SubmissionLimits::new();
        let t0 = Instant::now();
        for i in 0..SWEEP_EVERY - 1 {
            let _ = limits.try_reserve(&format!("u{i}@x.vn"), t0, 5);
        }
        assert_eq!(limits.lock().by_login.len() as u64, SWEEP_EVERY - 1);
        let _ = limits.try_reserve("last@x.vn", t0 + HOUR, 5);
        assert_eq!(limits.lock().by_login.len(), 1);
    }
}
