//! A bounded, per-isolate cache of parsed client records (and of misses),
//! so a warm isolate answers most requests without a KV read or a JSON parse.
//!
//! Entries live at most `ttl` seconds (misses `negative_ttl`), so the cache
//! adds at most that much to the time a disable, delete or rotation takes to
//! bite (see docs/consistency.md). The entry count is bounded:
//! a flood of unknown client ids cannot grow memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::client::ClientRecord;

/// Default most entries held.
pub const DEFAULT_MAX_ENTRIES: usize = 4096;
/// Longest time a miss is remembered, seconds.
pub const MAX_NEGATIVE_TTL: u64 = 5;

/// What the cache knows about a client id.
#[derive(Debug, Clone)]
pub enum Cached {
    /// The stored record.
    Found(Rc<ClientRecord>),
    /// The store had no record.
    Missing,
}

#[derive(Debug)]
struct Entry {
    expires_at: u64,
    value: Cached,
}

/// The cache. Single-threaded (one per isolate); time is passed in.
#[derive(Debug)]
pub struct RecordCache {
    ttl: u64,
    negative_ttl: u64,
    max_entries: usize,
    entries: RefCell<HashMap<String, Entry>>,
}

impl RecordCache {
    /// A cache keeping records `ttl` seconds and misses `min(ttl, 5)`
    /// seconds, holding at most `max_entries`. `ttl == 0` disables it.
    pub fn new(ttl: u64, max_entries: usize) -> Self {
        RecordCache {
            ttl,
            negative_ttl: ttl.min(MAX_NEGATIVE_TTL),
            max_entries,
            entries: RefCell::new(HashMap::new()),
        }
    }

    /// Whether the cache does anything.
    pub fn enabled(&self) -> bool {
        self.ttl > 0 && self.max_entries > 0
    }

    /// The cached answer for `client_id`, if fresh at `now`.
    pub fn get(&self, client_id: &str, now: u64) -> Option<Cached> {
        let entries = self.entries.borrow();
        let entry = entries.get(client_id)?;
        (now < entry.expires_at).then(|| entry.value.clone())
    }

    /// Remembers what the store said about `client_id` at `now`.
    pub fn insert(&self, client_id: &str, now: u64, value: Cached) {
        if !self.enabled() {
            return;
        }
        let ttl = match value {
            Cached::Found(_) => self.ttl,
            Cached::Missing => self.negative_ttl,
        };
        if ttl == 0 {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.max_entries && !entries.contains_key(client_id) {
            entries.retain(|_, e| now < e.expires_at);
            if entries.len() >= self.max_entries {
                match value {
                    // Never let misses push out real clients.
                    Cached::Missing => return,
                    Cached::Found(_) => {
                        let victim = entries
                            .iter()
                            .find(|(_, e)| matches!(e.value, Cached::Missing))
                            .or_else(|| entries.iter().next())
                            .map(|(k, _)| k.clone());
                        if let Some(victim) = victim {
                            entries.remove(&victim);
                        }
                    }
                }
            }
        }
        entries.insert(
            client_id.to_owned(),
            Entry {
                expires_at: now.saturating_add(ttl),
                value,
            },
        );
    }

    /// How many entries are held (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Rc<ClientRecord> {
        Rc::new(ClientRecord::new(id, id, 0))
    }

    #[test]
    fn cache_entry_expires_after_ttl() {
        let c = RecordCache::new(30, 10);
        c.insert("a", 100, Cached::Found(record("a")));
        assert!(matches!(c.get("a", 129), Some(Cached::Found(_))));
        assert!(c.get("a", 130).is_none());
    }

    #[test]
    fn cache_miss_is_remembered_briefly() {
        let c = RecordCache::new(30, 10);
        c.insert("x", 100, Cached::Missing);
        assert!(matches!(c.get("x", 104), Some(Cached::Missing)));
        assert!(c.get("x", 105).is_none());
    }

    #[test]
    fn cache_zero_ttl_is_disabled() {
        let c = RecordCache::new(0, 10);
        c.insert("a", 100, Cached::Found(record("a")));
        assert!(c.get("a", 100).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn cache_unknown_id_flood_stays_bounded_and_keeps_clients() {
        let c = RecordCache::new(30, 100);
        for i in 0..50 {
            c.insert(&format!("client-{i}"), 100, Cached::Found(record("c")));
        }
        for i in 0..100_000 {
            c.insert(&format!("unknown-{i}"), 100, Cached::Missing);
        }
        assert_eq!(c.len(), 100);
        for i in 0..50 {
            assert!(matches!(
                c.get(&format!("client-{i}"), 101),
                Some(Cached::Found(_))
            ));
        }
        // A new real client still gets in, pushing out a miss.
        c.insert("new", 101, Cached::Found(record("new")));
        assert!(matches!(c.get("new", 101), Some(Cached::Found(_))));
        assert_eq!(c.len(), 100);
    }

    #[test]
    fn cache_full_of_expired_entries_is_purged() {
        let c = RecordCache::new(30, 10);
        for i in 0..10 {
            c.insert(&format!("old-{i}"), 100, Cached::Found(record("o")));
        }
        c.insert("fresh", 200, Cached::Missing);
        assert_eq!(c.len(), 1);
    }
}
