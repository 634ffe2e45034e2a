//! A small per-process cache of database reads, shared by the API-key check and the
//! proxy's connection cache: entries expire after a TTL the caller gives, the map is
//! bounded (past the bound, expired entries go first, then everything), and writes are
//! fenced by an epoch that every invalidation bumps, so a read of the database made
//! before an invalidation in this process cannot put its stale value back after it.
//! The time is a parameter (the engine's clock, [`crate::clock`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Slot<V> {
    at: Instant,
    value: V,
}

/// See the module documentation.
pub(crate) struct TtlCache<V> {
    /// What it caches, for `Debug`.
    name: &'static str,
    map: Mutex<HashMap<String, Slot<V>>>,
    epoch: AtomicU64,
    max: usize,
}

impl<V> std::fmt::Debug for TtlCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name).finish_non_exhaustive()
    }
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache of at most `max` entries, shown as `name`.
    pub(crate) fn new(name: &'static str, max: usize) -> Self {
        Self {
            name,
            map: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot<V>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key`, if put less than `ttl` before `now`.
    pub(crate) fn get(&self, key: &str, ttl: Duration, now: Instant) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|s| now.saturating_duration_since(s.at) < ttl)
            .map(|s| s.value.clone())
    }

    /// The epoch to pass to [`TtlCache::put`], read before the database is.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps a value read when the epoch was `epoch`, unless an invalidation happened
    /// since, as put at `now`. `ttl` decides which entries are expired when the bound is
    /// reached.
    pub(crate) fn put(&self, key: &str, value: V, epoch: u64, ttl: Duration, now: Instant) {
        let mut map = self.lock();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if map.len() >= self.max && !map.contains_key(key) {
            map.retain(|_, s| now.saturating_duration_since(s.at) < ttl);
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key.to_owned(), Slot { at: now, value });
    }

    /// Changes the kept value of `key`, if any, without renewing it.
    pub(crate) fn update(&self, key: &str, f: impl FnOnce(&mut V)) {
        if let Some(s) = self.lock().get_mut(key) {
            f(&mut s.value);
        }
    }

    /// Forgets `key`, and fences out reads in flight.
    pub(crate) fn invalidate(&self, key: &str) {
        let mut map = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.remove(key);
    }

    /// Forgets everything, and fences out reads in flight.
    pub(crate) fn clear(&self) {
        let mut map = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// How many entries are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
