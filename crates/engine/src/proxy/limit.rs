//! Proactive rate limiting: a token bucket (GCRA, `governor`) per integration and one per
//! connection, from the integration's `rate_limit` in the configuration.
//!
//! A request takes a token from its connection's bucket, then from its integration's.
//! When either is empty the caller learns how long until a token is available, and the
//! proxy waits (bounded by what is left of `proxy_max_wait_secs`) or answers 429 with
//! `Retry-After`, as `on_limit` says.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;

type Direct = RateLimiter<NotKeyed, InMemoryState, Clock, NoOpMiddleware<Nanos>>;
type Keyed = RateLimiter<String, HashMapStateStore<String>, Clock, NoOpMiddleware<Nanos>>;

/// Per-connection state is pruned of idle keys after this many admissions.
const PRUNE_EVERY: u64 = 4096;

fn quota(per_second: u32, burst: Option<u32>) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = burst.and_then(NonZeroU32::new).unwrap_or(rate);
    Quota::per_second(rate).allow_burst(burst)
}

/// The buckets of one integration, on the engine's clock.
pub(crate) struct Buckets {
    limit: config::RateLimit,
    all: Option<Direct>,
    per_connection: Option<Keyed>,
    clock: Clock,
    admitted: AtomicU64,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("limit", &self.limit)
            .finish()
    }
}

impl Buckets {
    /// Buckets for `limit`, on `clock`.
    pub(crate) fn with_clock(limit: config::RateLimit, clock: Clock) -> Self {
        let all = limit
            .per_second
            .map(|r| RateLimiter::direct_with_clock(quota(r, limit.burst), clock.clone()));
        let per_connection = limit.per_connection_per_second.map(|r| {
            RateLimiter::new(
                quota(r, limit.per_connection_burst),
                HashMapStateStore::default(),
                clock.clone(),
            )
        });
        Self {
            limit,
            all,
            per_connection,
            clock,
            admitted: AtomicU64::new(0),
        }
    }

    /// Takes a token for `connection`, or says how long until one is available.
    pub(crate) fn admit(&self, connection: &str) -> Result<(), Duration> {
        if let Some(k) = &self.per_connection {
            if self.admitted.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
                k.retain_recent();
            }
            k.check_key(&connection.to_owned())
                .map_err(|n| n.wait_time_from(governor::clock::Clock::now(&self.clock)))?;
        }
        if let Some(a) = &self.all {
            a.check()
                .map_err(|n| n.wait_time_from(governor::clock::Clock::now(&self.clock)))?;
        }
        Ok(())
    }

    /// What to do over the limit.
    pub(crate) fn on_limit(&self) -> config::OnLimit {
        self.limit.on_limit
    }
}

/// The buckets of every integration of this process, rebuilt when an integration's
/// `rate_limit` changes (configuration reload).
#[derive(Debug, Default)]
pub(crate) struct Limits {
    map: Mutex<HashMap<String, Arc<Buckets>>>,
}

impl Limits {
    /// The buckets of `integration` under `limit`, on `clock` when they are new.
    pub(crate) fn buckets(
        &self,
        integration: &str,
        limit: config::RateLimit,
        clock: &Clock,
    ) -> Arc<Buckets> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(integration)
            && b.limit == limit
        {
            return b.clone();
        }
        let b = Arc::new(Buckets::with_clock(limit, clock.clone()));
        map.insert(integration.to_owned(), b.clone());
        b
    }
}
