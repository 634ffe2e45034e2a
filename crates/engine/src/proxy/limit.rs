//! Proactive rate limiting: a token bucket (GCRA) per integration and one per
//! connection, from the integration's `rate_limit` in the configuration.
//!
//! A request takes a token from its connection's bucket, then from its integration's.
//! When either is empty the caller learns how long until a token is available, and the
//! proxy waits (bounded by what is left of `proxy_max_wait_secs`) or answers 429 with
//! `Retry-After`, as `on_limit` says.
//!
//! The limits hold across instances sharing a database ([`crate::instances`]): the
//! integration's bucket holds this instance's demand-weighted share of `per_second` and
//! `burst`, and each connection's bucket an equal share (`1 / n` of the live
//! instances). Shares change at heartbeats without handing out a fresh burst.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::gcra::Gcra;
use crate::instances::{self, Membership, NO_SHARE_RETRY, SharedBucket};

/// Per-connection state is pruned of full (idle) buckets after this many admissions.
const PRUNE_EVERY: u64 = 4096;

/// The shared-limit key of an integration.
pub(crate) fn key(integration: &str) -> String {
    format!("integration:{integration}")
}

/// One bucket per connection, each holding this instance's equal share of the
/// per-connection limit.
#[derive(Debug)]
struct PerConnection {
    per_second: u32,
    burst: u32,
    /// Each connection's bucket, with the fraction it was last set to.
    buckets: Mutex<HashMap<String, (f64, Gcra)>>,
}

impl PerConnection {
    fn check(
        &self,
        connection: &str,
        fraction: f64,
        now: std::time::Instant,
        prune: bool,
    ) -> Result<(), Duration> {
        if fraction <= 0.0 {
            return Err(NO_SHARE_RETRY);
        }
        let (rate, burst) = instances::split(self.per_second, self.burst, fraction);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if prune {
            map.retain(|c, (_, g)| c == connection || !g.is_full(now));
        }
        let (f, g) = map
            .entry(connection.to_owned())
            .or_insert_with(|| (fraction, Gcra::new(rate, burst)));
        if f.to_bits() != fraction.to_bits() {
            g.set(now, rate, burst);
            *f = fraction;
        }
        g.check(now)
    }
}

/// The buckets of one integration, on the engine's clock.
pub(crate) struct Buckets {
    limit: config::RateLimit,
    all: Option<SharedBucket>,
    per_connection: Option<PerConnection>,
    membership: Arc<Membership>,
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
    /// Buckets for `limit`, on `clock`, for an instance that is alone (tests).
    #[cfg(test)]
    pub(crate) fn with_clock(limit: config::RateLimit, clock: Clock) -> Self {
        Self::shared("", limit, clock, Arc::new(Membership::new()))
    }

    /// Buckets for `integration` under `limit`, on `clock`, holding this instance's
    /// shares as `membership` says.
    pub(crate) fn shared(
        integration: &str,
        limit: config::RateLimit,
        clock: Clock,
        membership: Arc<Membership>,
    ) -> Self {
        let all = limit.per_second.map(|r| {
            let r = r.max(1);
            let burst = limit.burst.filter(|b| *b > 0).unwrap_or(r);
            SharedBucket::new(membership.key(&key(integration), r), r, burst)
        });
        let per_connection = limit.per_connection_per_second.map(|r| {
            let r = r.max(1);
            PerConnection {
                per_second: r,
                burst: limit.per_connection_burst.filter(|b| *b > 0).unwrap_or(r),
                buckets: Mutex::new(HashMap::new()),
            }
        });
        Self {
            limit,
            all,
            per_connection,
            membership,
            clock,
            admitted: AtomicU64::new(0),
        }
    }

    /// Takes a token for `connection`, or says how long until one is available.
    pub(crate) fn admit(&self, connection: &str) -> Result<(), Duration> {
        let now = self.clock.instant();
        if let Some(k) = &self.per_connection {
            let prune =
                self.admitted.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
            k.check(connection, self.membership.per_connection(), now, prune)?;
        }
        if let Some(a) = &self.all {
            a.check(now)?;
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
    /// The buckets of `integration` under `limit`, on `clock` and sharing as
    /// `membership` says when they are new.
    pub(crate) fn buckets(
        &self,
        integration: &str,
        limit: config::RateLimit,
        clock: &Clock,
        membership: &Arc<Membership>,
    ) -> Arc<Buckets> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(integration)
            && b.limit == limit
        {
            return b.clone();
        }
        let b = Arc::new(Buckets::shared(
            integration,
            limit,
            clock.clone(),
            membership.clone(),
        ));
        map.insert(integration.to_owned(), b.clone());
        b
    }
}
