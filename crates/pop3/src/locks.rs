//! The maildrop lock (RFC 1939 §8: "the POP3 server acquires an exclusive-access lock on the
//! maildrop"): one POP3 session per mailbox at a time.
//!
//! Keeps true: a lock is held exactly as long as its [`MailboxLock`] lives, so a session that
//! ends in any way (QUIT, dropped connection, timeout, panic unwinding) releases it. The lock
//! is in memory and per server process; IMAP sessions are not affected by it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use congvu_store::AccountId;

/// The set of mailboxes open in a POP3 session; cheap to clone, shared by every listener.
#[derive(Debug, Clone, Default)]
pub struct MailboxLocks {
    held: Arc<Mutex<HashSet<AccountId>>>,
}

/// Proof that this session holds the mailbox; dropping it releases the mailbox.
#[derive(Debug)]
pub struct MailboxLock {
    held: Arc<Mutex<HashSet<AccountId>>>,
    account: AccountId,
}

impl MailboxLocks {
    /// Takes the mailbox's lock, or returns `None` when another session holds it.
    pub fn try_lock(&self, account: AccountId) -> Option<MailboxLock> {
        // The set stays consistent whatever panicked while holding the mutex (insert and
        // remove are single operations), so a poisoned mutex is still usable.
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.insert(account) {
            Some(MailboxLock {
                held: self.held.clone(),
                account,
            })
        } else {
            None
        }
    }

    /// Whether a session holds the mailbox now.
    pub fn is_locked(&self, account: AccountId) -> bool {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&account)
    }
}

impl Drop for MailboxLock {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let locks = MailboxLocks::default();
        let first = locks.try_lock(7).expect("free mailbox");
        assert!(locks.try_lock(7).is_none());
        assert!(
            locks.try_lock(8).is_some(),
            "other mailboxes are independent"
        );
        assert!(locks.is_locked(7));
        drop(first);
        assert!(!locks.is_locked(7));
        assert!(locks.clone().try_lock(7).is_some());
    }
}
