//! Rate limits that hold across instances: membership and demand-weighted shares.
//!
//! Every `serve` process that shares a database beats every `instance_heartbeat_ms`
//! ([`Engine::beat`], run by [`Engine::run_instance_heartbeat`]): one small write that
//! upserts its row (its demand per limit key over the last heartbeat) and reads back
//! the live instances with theirs ([`store::InstanceStore`]). From that snapshot each
//! instance takes, for each shared limit `L` (an integration's `rate_limit.per_second`,
//! a destination's `rate_limit`), the fraction `w_i / Σw` ([`fraction`]) where `w` is an
//! instance's demand, but at least [`FLOOR`] of a fair share `L / n`, so an idle
//! instance can start at once. Over one snapshot the fractions sum to exactly 1. Burst
//! is split the same way (at least 1 token). Per-connection limits are split equally
//! (`1 / n`): demand per connection would mean a row per connection.
//!
//! The request path costs no database round trip: a bucket counts its asks in an atomic
//! ([`KeyShare::ask`]) and reads its fraction from another; the heartbeat task swaps the
//! counters out and stores the new fractions. Buckets are [`Gcra`]s that change rate
//! without handing out a fresh burst ([`crate::gcra`]).
//!
//! Rebalancing: a fraction that shrinks applies at once; one that grows because demand
//! moved applies one heartbeat later (the smaller of the fractions computed from this
//! snapshot and from the previous one, over the instances live now), by which time the
//! others have seen the same demand and shrunk. A fraction that grows because an
//! instance left or died applies at once: that instance no longer sends. An instance
//! that cannot beat keeps its fractions while its row is live (`LIVE_BEATS`
//! heartbeats); past that the others no longer count it and have taken its share, so it
//! admits nothing under shared limits until it beats again (it could not read
//! connections or claim deliveries without the database either). Liveness compares the
//! times instances write (their clocks), so instances need synchronised clocks, as token
//! expiry and webhook tolerance already do.
//!
//! Before its first beat (offline verbs, tests, an engine without the heartbeat) an
//! instance is alone: every fraction is 1, which is the single-process behaviour.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use store::{InstanceBeat, LiveInstance};

use crate::gcra::Gcra;
use crate::{Engine, EngineResult};

/// Live instances sharing the database, as this one last saw them (gauge).
pub const LIVE_INSTANCES: &str = "switchboard_instances_live";
/// This instance's fraction (0 to 1) of each shared rate limit, by `kind`
/// (`integration`, `destination`) and `id` (gauge).
pub const RATE_LIMIT_SHARE: &str = "switchboard_rate_limit_share";

/// An idle instance weighs this fraction of a fair share (`L / n`).
pub const FLOOR: f64 = 0.1;
/// Heartbeats an instance stays live without beating.
pub const LIVE_BEATS: u32 = 3;
/// Weight of the newest heartbeat in the smoothed demand.
const SMOOTHING: f64 = 0.5;
/// How long a request refused while this instance holds no share waits before asking
/// again (shares change at heartbeats).
pub(crate) const NO_SHARE_RETRY: Duration = Duration::from_secs(1);

/// This instance's fraction of a limit of `limit` requests per second, given its demand
/// (`mine`) and every other live instance's (`others`), in requests per second: each
/// weighs its demand, but at least [`FLOOR`] × `limit / n`.
pub fn fraction(limit: f64, mine: f64, others: &[f64]) -> f64 {
    let n = (others.len() + 1) as f64;
    let floor = FLOOR * limit.max(0.0) / n;
    let weight = |d: f64| if d.is_finite() { d.max(floor) } else { floor };
    let total = weight(mine) + others.iter().map(|d| weight(*d)).sum::<f64>();
    if total > 0.0 {
        weight(mine) / total
    } else {
        1.0 / n
    }
}

/// `per_second` and `burst` cut to `fraction`: the rate in proportion, the burst in
/// proportion rounded down but at least 1.
pub fn split(per_second: u32, burst: u32, fraction: f64) -> (f64, u32) {
    let f = fraction.clamp(0.0, 1.0);
    let b = ((f64::from(burst) * f) + 1e-9).floor() as u32;
    (f64::from(per_second.max(1)) * f, b.clamp(1, burst.max(1)))
}

fn load_f64(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Ordering::Acquire))
}

fn store_f64(a: &AtomicU64, v: f64) {
    a.store(v.to_bits(), Ordering::Release);
}

/// One shared limit key (`integration:<id>`, `destination:<id>`) in this process: the
/// asks since the last heartbeat and the fraction in force.
#[derive(Debug)]
pub(crate) struct KeyShare {
    /// The whole limit, per second (for the idle floor).
    limit: AtomicU64,
    asks: AtomicU64,
    fraction: AtomicU64,
}

impl KeyShare {
    /// Counts one ask for a token (admitted or not).
    pub(crate) fn ask(&self) {
        self.asks.fetch_add(1, Ordering::Relaxed);
    }

    /// The fraction of the limit this instance holds now.
    pub(crate) fn fraction(&self) -> f64 {
        load_f64(&self.fraction)
    }
}

/// What the last beats said.
#[derive(Debug, Default)]
struct View {
    /// Set by the first beat; until then the instance is alone.
    started_at: Option<DateTime<Utc>>,
    /// The others' demand at the last successful beat, and at the one before.
    others: BTreeMap<String, BTreeMap<String, f64>>,
    prev_others: BTreeMap<String, BTreeMap<String, f64>>,
    /// This instance's demand as written by the last successful beat, and the one
    /// before (empty after joining: a joiner weighs the floor for its first beat).
    mine: BTreeMap<String, f64>,
    prev_mine: BTreeMap<String, f64>,
    /// Smoothed demand, updated at every beat attempt.
    smoothed: BTreeMap<String, f64>,
    /// When the asks were last counted.
    counted_at: Option<Instant>,
    /// Whether the last successful beat is still live (others count this instance).
    joined: bool,
    /// When this instance's row expires without another successful beat.
    expires: Option<Instant>,
}

/// This instance in the membership of instances sharing the database, and its shares.
#[derive(Debug)]
pub struct Membership {
    id: String,
    keys: Mutex<HashMap<String, Arc<KeyShare>>>,
    /// Fraction of each per-connection limit: `1 / n`.
    per_connection: AtomicU64,
    /// Live instances at the last beat (1 before the first).
    live: AtomicU64,
    /// Whether a beat ever succeeded (shares are then the snapshot's, not "alone").
    beaten: AtomicBool,
    view: Mutex<View>,
}

impl Default for Membership {
    fn default() -> Self {
        Self::new()
    }
}

impl Membership {
    /// An instance with a random id, alone until it beats.
    pub fn new() -> Self {
        Self {
            id: format!("ins_{}", uuid::Uuid::new_v4().simple()),
            keys: Mutex::new(HashMap::new()),
            per_connection: AtomicU64::new(1f64.to_bits()),
            live: AtomicU64::new(1),
            beaten: AtomicBool::new(false),
            view: Mutex::new(View::default()),
        }
    }

    /// This instance's id (its row in `instances`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Live instances at the last beat, this one included (1 before the first beat).
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    /// The fraction of `key`'s limit this instance holds now (1 when alone). For a key
    /// no bucket uses yet: an equal split among the live instances.
    pub fn share(&self, key: &str) -> f64 {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map_or_else(|| self.per_connection(), |k| k.fraction())
    }

    /// The fraction of every per-connection limit this instance holds (`1 / n`).
    pub(crate) fn per_connection(&self) -> f64 {
        load_f64(&self.per_connection)
    }

    /// The shared state of `key` under a limit of `limit` per second, made on first
    /// use with the fraction the current snapshot gives an instance without demand.
    pub(crate) fn key(&self, key: &str, limit: u32) -> Arc<KeyShare> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(key) {
            store_f64(&k.limit, f64::from(limit));
            return k.clone();
        }
        let f = {
            let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
            self.compute(&view, key, f64::from(limit))
        };
        let k = Arc::new(KeyShare {
            limit: AtomicU64::new(f64::from(limit).to_bits()),
            asks: AtomicU64::new(0),
            fraction: AtomicU64::new(f.to_bits()),
        });
        keys.insert(key.to_owned(), k.clone());
        publish_share(key, f);
        k
    }

    /// The fraction of `key` (limit `limit`) the view gives: 1 before the first beat,
    /// 0 once this instance's row has expired, else the smaller of the fractions from
    /// the last snapshot and from the one before (over the instances live now).
    fn compute(&self, view: &View, key: &str, limit: f64) -> f64 {
        if !self.beaten.load(Ordering::Acquire) {
            return 1.0;
        }
        if !view.joined {
            return 0.0;
        }
        let get = |m: &BTreeMap<String, f64>| m.get(key).copied().unwrap_or(0.0);
        let now_others: Vec<f64> = view.others.values().map(get).collect();
        let prev_others: Vec<f64> = view
            .others
            .iter()
            .map(|(id, d)| get(view.prev_others.get(id).unwrap_or(d)))
            .collect();
        let now = fraction(limit, get(&view.mine), &now_others);
        let prev = fraction(limit, get(&view.prev_mine), &prev_others);
        now.min(prev)
    }

    /// Counts the asks since the last beat into the smoothed demand (requests per
    /// second) and returns it, for the beat to write.
    fn demand(&self, now: Instant, heartbeat: Duration) -> BTreeMap<String, f64> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = view
            .counted_at
            .map_or(heartbeat, |t| now.saturating_duration_since(t))
            .max(Duration::from_millis(1))
            .as_secs_f64();
        view.counted_at = Some(now);
        let mut out = BTreeMap::new();
        for (key, k) in keys.iter() {
            let rate = k.asks.swap(0, Ordering::AcqRel) as f64 / elapsed;
            let smoothed = match view.smoothed.get(key) {
                Some(prev) => SMOOTHING * rate + (1.0 - SMOOTHING) * prev,
                None => rate,
            };
            // Forget what has gone quiet (a limit removed, an idle key).
            if smoothed >= 1e-3 {
                out.insert(key.clone(), smoothed);
            }
        }
        view.smoothed = out.clone();
        out
    }

    /// A successful beat wrote `mine` and read `live`; this row is live until
    /// `expires`. Recomputes every fraction.
    fn apply(&self, mine: BTreeMap<String, f64>, live: Vec<LiveInstance>, expires: Instant) {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let others: BTreeMap<String, BTreeMap<String, f64>> = live
            .into_iter()
            .filter(|i| i.id != self.id)
            .map(|i| (i.id, i.demand))
            .collect();
        if view.joined {
            view.prev_mine = std::mem::replace(&mut view.mine, mine);
            view.prev_others = std::mem::replace(&mut view.others, others);
        } else {
            // (Re)joining: the others have not counted this instance yet, so it weighs
            // the floor for this first beat.
            view.prev_mine = BTreeMap::new();
            view.prev_others = others.clone();
            view.others = others;
            view.mine = mine;
        }
        view.joined = true;
        view.expires = Some(expires);
        self.beaten.store(true, Ordering::Release);
        let n = view.others.len() + 1;
        self.live.store(n as u64, Ordering::Release);
        store_f64(&self.per_connection, 1.0 / n as f64);
        metrics::gauge!(LIVE_INSTANCES).set(n as f64);
        for (key, k) in keys.iter() {
            let f = self.compute(&view, key, load_f64(&k.limit));
            store_f64(&k.fraction, f);
            publish_share(key, f);
        }
    }

    /// A beat failed at `now`: past this row's expiry, the others no longer count this
    /// instance and it holds no share until it beats again. Whether it just lost them.
    fn missed(&self, now: Instant) -> bool {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let expired = view.joined && view.expires.is_some_and(|t| now >= t);
        if expired {
            view.joined = false;
            store_f64(&self.per_connection, 0.0);
            for (key, k) in keys.iter() {
                store_f64(&k.fraction, 0.0);
                publish_share(key, 0.0);
            }
        }
        expired
    }

    /// When the first beat happened (the row's `started_at`), set by the first call.
    fn started_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        *self
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .started_at
            .get_or_insert(now)
    }
}

fn publish_share(key: &str, f: f64) {
    let (kind, id) = key.split_once(':').unwrap_or(("", key));
    metrics::gauge!(RATE_LIMIT_SHARE, "kind" => kind.to_owned(), "id" => id.to_owned()).set(f);
}

/// A token bucket holding this instance's share of one shared limit: its rate and burst
/// follow the share's fraction, changed without a fresh burst ([`Gcra::set`]).
#[derive(Debug)]
pub(crate) struct SharedBucket {
    share: Arc<KeyShare>,
    per_second: u32,
    burst: u32,
    /// The fraction the bucket was last set to, and the bucket.
    state: Mutex<(f64, Gcra)>,
}

impl SharedBucket {
    /// A full bucket for this instance's share of `per_second` (capacity `burst`).
    pub(crate) fn new(share: Arc<KeyShare>, per_second: u32, burst: u32) -> Self {
        let f = share.fraction();
        let (rate, b) = split(per_second, burst, f);
        Self {
            share,
            per_second: per_second.max(1),
            burst: burst.max(1),
            state: Mutex::new((f, Gcra::new(rate, b))),
        }
    }

    /// Takes a token at `now` (counting the ask as demand), or says how long until one
    /// is available.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        self.share.ask();
        let f = self.share.fraction();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if f <= 0.0 {
            return Err(NO_SHARE_RETRY);
        }
        if f.to_bits() != st.0.to_bits() {
            let (rate, b) = split(self.per_second, self.burst, f);
            st.1.set(now, rate, b);
            st.0 = f;
        }
        st.1.check(now)
    }

    /// The rate (per second) and burst in force for this instance.
    pub(crate) fn in_force(&self) -> (f64, u32) {
        let f = self.share.fraction();
        if f <= 0.0 {
            return (0.0, 0);
        }
        split(self.per_second, self.burst, f)
    }
}

impl Engine {
    /// This instance's membership and shares.
    pub fn membership(&self) -> &Arc<Membership> {
        &self.inner.membership
    }

    /// One heartbeat: writes this instance's row with its demand since the last beat,
    /// reads the live instances, and recomputes every share. A failed beat keeps the
    /// shares until this instance's row would have expired, then drops them to none.
    /// Returns how many instances are live.
    pub async fn beat(&self) -> EngineResult<usize> {
        let heartbeat = Duration::from_millis(self.config().instance_heartbeat_ms);
        let m = &self.inner.membership;
        let (now, instant) = (self.now(), self.instant());
        let ttl = heartbeat * LIVE_BEATS;
        let demand = m.demand(instant, heartbeat);
        let beat = InstanceBeat {
            id: m.id.clone(),
            started_at: m.started_at(now),
            at: now,
            expires_at: now + chrono::Duration::milliseconds(ttl.as_millis() as i64),
            demand: demand.clone(),
        };
        // A beat that hangs counts as failed once a heartbeat has passed.
        let result = tokio::select! {
            r = self.inner.store.beat_instance(&beat) => r.map_err(Into::into),
            () = self.clock().sleep(heartbeat) => Err(crate::EngineError::Store(
                store::StoreError::Unavailable("the instance heartbeat timed out".into()),
            )),
        };
        match result {
            Ok(live) => {
                let n = live.len().max(1);
                m.apply(demand, live, instant + ttl);
                Ok(n)
            }
            Err(e) => {
                if m.missed(self.instant()) {
                    tracing::error!(error = %e, "this instance could not beat for instance_heartbeat_ms × {LIVE_BEATS}: the others no longer count it, so it admits nothing under shared rate limits until the database answers again");
                }
                Err(e)
            }
        }
    }

    /// Beats every `instance_heartbeat_ms` until `shutdown` resolves, then removes this
    /// instance's row so the others take its share at their next beat.
    pub async fn run_instance_heartbeat(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.beat().await {
                tracing::warn!(error = %e, "instance heartbeat failed; keeping the last rate-limit shares");
            }
            let heartbeat = Duration::from_millis(self.config().instance_heartbeat_ms);
            tokio::select! {
                () = &mut shutdown => break,
                () = self.clock().sleep(heartbeat) => {}
            }
        }
        self.leave().await;
    }

    /// Removes this instance's row (graceful shutdown).
    pub async fn leave(&self) {
        let id = self.inner.membership.id.clone();
        if let Err(e) = self.inner.store.leave_instance(&id).await {
            tracing::warn!(error = %e, "could not remove this instance's row; the others take its share once it expires");
        }
    }
}
