//! The DNS answer cache handed to mail-auth: its lookups take one `ResolverCache` per record
//! type (TXT, MX, A, AAAA, PTR) and keep parsed records (an SPF, DKIM key or DMARC record)
//! until the answer's TTL runs out. One set lives as long as the process's pipeline, so a
//! domain that sends many messages is looked up once per TTL, not once per message.
//!
//! Invariant: never more than `capacity` entries; an expired entry is never returned.

use mail_auth::{MX, RecordSet, ResolverCache, Txt};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

/// A bounded map whose entries expire at the instant the DNS answer said.
pub struct TtlCache<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        match entries.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(value, _)| value)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                // Still full of live answers: drop the one that would expire first.
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

/// The five caches mail-auth's lookups use.
pub struct DnsCaches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, RecordSet<Box<str>>>,
}

impl DnsCaches {
    pub fn new(capacity: usize) -> Self {
        DnsCaches {
            txt: TtlCache::new(capacity),
            mx: TtlCache::new(capacity),
            ipv4: TtlCache::new(capacity),
            ipv6: TtlCache::new(capacity),
            ptr: TtlCache::new(capacity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn returns_live_entries_and_forgets_expired_ones() {
        let cache: TtlCache<Box<str>, u32> = TtlCache::new(4);
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert("a.test.".into(), 1, later);
        cache.insert("b.test.".into(), 2, Instant::now());
        assert_eq!(cache.get("a.test."), Some(1));
        assert_eq!(cache.get("b.test."), None, "expired at insertion");
        assert_eq!(cache.len(), 1, "the expired entry was dropped on lookup");
    }

    #[test]
    fn stays_within_capacity_dropping_the_soonest_to_expire() {
        let cache: TtlCache<Box<str>, u32> = TtlCache::new(2);
        let now = Instant::now();
        cache.insert("long.".into(), 1, now + Duration::from_secs(600));
        cache.insert("short.".into(), 2, now + Duration::from_secs(60));
        cache.insert("new.".into(), 3, now + Duration::from_secs(300));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("short."), None);
        assert_eq!(cache.get("long."), Some(1));
        assert_eq!(cache.get("new."), Some(3));
    }
}
