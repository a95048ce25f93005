//! A bounded in-memory cache of immutable things addressed by content: message bodies by
//! their BLAKE3 hash (`blob_fs.rs`) and the parsed index of a message (`sqlite/read.rs`).
//!
//! What this keeps true:
//! - Nothing here can go stale: the key is the hash of the bytes, and what a hash names never
//!   changes. The only removal that matters is a blob's deletion (garbage collection), which
//!   removes it here too; and a deleted blob is no longer reachable from any mailbox entry.
//!   When another process (the CLI's `purge`, `quarantine delete`) commits, the SQLite store
//!   clears both caches as soon as it notices (`sqlite::notice_other_writers`), so a purged
//!   message's bytes do not stay in this process's memory either.
//! - Memory is bounded by `budget`, counted in the bytes the caller says an entry costs.
//!   When full, entries are dropped in the order of the map (unrelated to their age, like a
//!   random choice): simpler than an LRU list and close to it for a working set much larger
//!   or much smaller than the budget, which is where a mail server lives.
//!
//! - Keys are the 32 bytes of the hash, not its 64 hex digits: half the bytes to hash and
//!   compare on every lookup (a header SEARCH looks up every message of the folder).
//!
//! Written by hand: the crates that do this (lru, moka, quick_cache) bring more than these 60
//! lines need, and none is already in the dependency tree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(crate) struct RecentCache<V> {
    inner: Mutex<Entries<V>>,
    budget: usize,
    /// Entries costing more are not kept: one large message must not push out hundreds.
    max_entry: usize,
}

/// A BLAKE3 hash's bytes (`crate::hash_bytes` of its hex digits).
pub(crate) type Key = [u8; 32];

struct Entries<V> {
    map: HashMap<Key, (Arc<V>, usize)>,
    cost: usize,
}

impl<V> std::fmt::Debug for RecentCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentCache")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<V> RecentCache<V> {
    pub(crate) fn new(budget: usize, max_entry: usize) -> Self {
        RecentCache {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                cost: 0,
            }),
            budget,
            max_entry: max_entry.min(budget),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<V>> {
        let entries = self.inner.lock().ok()?;
        entries.map.get(key).map(|(v, _)| v.clone())
    }

    /// `get` of each key, under one lock.
    pub(crate) fn get_many<'a>(&self, keys: impl Iterator<Item = &'a Key>) -> Vec<Option<Arc<V>>> {
        match self.inner.lock() {
            Ok(entries) => keys
                .map(|key| entries.map.get(key).map(|(v, _)| v.clone()))
                .collect(),
            Err(_) => keys.map(|_| None).collect(),
        }
    }

    /// Keeps `value` unless it alone costs more than `max_entry`.
    pub(crate) fn insert(&self, key: &Key, value: Arc<V>, cost: usize) {
        if cost > self.max_entry {
            return;
        }
        let Ok(mut entries) = self.inner.lock() else {
            return;
        };
        let entries = &mut *entries;
        if entries.map.contains_key(key) {
            return;
        }
        while entries.cost + cost > self.budget {
            let Some(victim) = entries.map.keys().next().copied() else {
                break;
            };
            if let Some((_, c)) = entries.map.remove(&victim) {
                entries.cost -= c;
            }
        }
        entries.cost += cost;
        entries.map.insert(*key, (value, cost));
    }

    /// Drops everything (another process may have purged what is cached).
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.inner.lock() {
            entries.map.clear();
            entries.cost = 0;
        }
    }

    pub(crate) fn remove(&self, key: &Key) {
        if let Ok(mut entries) = self.inner.lock()
            && let Some((_, c)) = entries.map.remove(key)
        {
            entries.cost -= c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget() {
        let k = |i: u8| [i; 32];
        let cache = RecentCache::new(100, 25);
        for i in 0..50 {
            cache.insert(&k(i), Arc::new(i), 10);
            let entries = cache.inner.lock().expect("lock");
            assert!(entries.cost <= 100);
            assert_eq!(entries.cost, entries.map.len() * 10);
        }
        // The last one is always kept; too large a value never is.
        assert_eq!(cache.get(&k(49)).as_deref(), Some(&49));
        assert_eq!(
            cache.get_many([k(49), k(200)].iter()),
            vec![Some(Arc::new(49)), None]
        );
        cache.insert(&k(200), Arc::new(0), 26);
        assert!(cache.get(&k(200)).is_none());
        cache.remove(&k(49));
        assert!(cache.get(&k(49)).is_none());
        assert_eq!(cache.inner.lock().expect("lock").map.len(), 9);
        cache.clear();
        assert!(cache.get(&k(48)).is_none());
        assert_eq!(cache.inner.lock().expect("lock").cost, 0);
    }
}
