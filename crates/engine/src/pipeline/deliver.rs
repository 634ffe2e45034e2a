//! The delivery worker: claims due deliveries with a lease, POSTs each mapped event to its
//! destination signed per Standard Webhooks, and records the outcome.
//!
//! - `webhook-id` is the delivery id (stable across retries and replays), with
//!   `webhook-timestamp` and `webhook-signature`: `v1,…` (HMAC-SHA256) when the destination
//!   has a `secret` (`whsec_…`), `v1a,…` (Ed25519) when it has a `signing_key`
//!   (`whsk_…`), both space-separated when it has both. The body is
//!   `{"type", "timestamp", "data"}`; `x-switchboard-event-id` names the event.
//! - 2xx delivers. 410 Gone disables the destination (persisted; its deliveries wait) and
//!   counts as a failed attempt. Anything else (other statuses, timeouts, refused
//!   connections) retries per the destination's `retry_schedule_secs` with ±20 % jitter,
//!   never earlier than a `Retry-After` (delay seconds or an HTTP date; a past date is 0;
//!   capped at 24 h); after `max_attempts` the delivery is `dead`.
//! - The lease is the request timeout + `lease_margin` (30 s) and is renewed every third
//!   of that while the request runs, so it never lapses under a live request. A renewal
//!   that finds the claim taken over (the lease lapsed and another worker claimed it)
//!   abandons the request; an outcome whose claim is no longer current is not written
//!   (`lost_lease`). A crashed worker's deliveries are taken over once their lease expires.
//! - A circuit breaker per destination: after `breaker_threshold` (5) failures in a row
//!   no delivery to it is claimed for `breaker_cooldown` (30 s, doubling up to 10 min
//!   while trial requests fail); then one trial request at a time until one succeeds.
//! - `max_concurrency` caps the requests in flight to a destination (per process), and
//!   its `rate_limit` caps their rate across every instance sharing the database: a
//!   token bucket per destination holding this instance's demand-weighted share of it
//!   ([`crate::instances`]). A rate-limited destination is claimed on its own, only while its bucket has a
//!   token, and at most as many deliveries as it can take; one claimed over the limit
//!   is released at once (no attempt counted, due when the next token is) and the
//!   destination is not claimed again before then. No lease is held while waiting.
//! - Idle, the worker sleeps until woken (intake, replay), until the next due delivery,
//!   until a blocked destination (breaker, rate limit) opens again, or for
//!   `poll_interval` (work enqueued by other processes), whichever comes first.
//! - Every time it reads or sleeps for (schedules, leases, breaker cool-downs, rate
//!   limits, the idle sleep) is the engine's clock ([`crate::clock`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signatures::{Scheme, SignRequest};
use store::{Claimed, Failure, NewAttempt};
use tokio::task::JoinSet;
use vault::SecretString;

use crate::instances::{Membership, SharedBucket, split};
use crate::{Actor, Engine, EngineResult};

/// Deliveries waiting or in flight.
pub const QUEUE_DEPTH: &str = "switchboard_deliveries_queue_depth";
/// Age in seconds of the oldest waiting delivery.
pub const OLDEST_PENDING: &str = "switchboard_deliveries_oldest_pending_seconds";
/// Attempts by destination and outcome (`delivered`, `retry`, `dead`, `gone`, `lost_lease`).
pub const ATTEMPTS: &str = "switchboard_delivery_attempts_total";
/// Received → delivered, seconds.
pub const LATENCY: &str = "switchboard_delivery_latency_seconds";
/// Dead deliveries (gauge).
pub const DEAD: &str = "switchboard_deliveries_dead";

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Shortest idle sleep of the worker.
const MIN_SLEEP: Duration = Duration::from_millis(20);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Lease owner name (host and process, for operators).
    pub owner: String,
    /// Deliveries in flight at once in this worker.
    pub concurrency: usize,
    /// Longest idle sleep (work enqueued by other processes is found within it).
    pub poll_interval: Duration,
    /// Failures in a row that open a destination's circuit.
    pub breaker_threshold: u32,
    /// First cool-down of an open circuit; doubles while trial requests fail.
    pub breaker_cooldown: Duration,
    /// Longest cool-down.
    pub breaker_max_cooldown: Duration,
    /// A claim's lease is the destination's timeout plus this (renewed every third of
    /// the lease while the request runs).
    pub lease_margin: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            owner: format!("pid-{}", std::process::id()),
            concurrency: 32,
            poll_interval: Duration::from_secs(5),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(600),
            lease_margin: Duration::from_secs(LEASE_MARGIN_SECS),
        }
    }
}

/// One destination's circuit breaker, in-flight count and rate-limit state.
#[derive(Debug, Default)]
struct DestState {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Option<Duration>,
    in_flight: u32,
    /// Not claimed before this: its rate limit has no token until then.
    throttled_until: Option<Instant>,
    /// Its backlog outruns its rate limit: claim one delivery per token.
    throttled: bool,
}

/// What keeps a destination from being claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// Its circuit is open, or its rate limit has no token, until then.
    Until(Instant),
    /// Its slots (`max_concurrency`, or the one trial request of a half-open circuit)
    /// are taken; a finishing request frees one.
    Full,
}

/// The worker's per-destination admission: circuit breakers, concurrency and rate
/// limits. Times are parameters, so it is tested without waiting.
#[derive(Debug)]
pub(crate) struct Gate {
    threshold: u32,
    cooldown: Duration,
    max_cooldown: Duration,
    /// This instance's shares of the destinations' rate limits.
    membership: Arc<Membership>,
    dests: HashMap<String, DestState>,
    limiters: HashMap<String, ((u32, u32), SharedBucket)>,
}

/// The shared-limit key of a destination.
pub(crate) fn limit_key(destination: &str) -> String {
    format!("destination:{destination}")
}

impl Gate {
    pub(crate) fn new(opts: &WorkerOptions, membership: Arc<Membership>) -> Self {
        Self {
            threshold: opts.breaker_threshold.max(1),
            cooldown: opts.breaker_cooldown,
            max_cooldown: opts.breaker_max_cooldown,
            membership,
            dests: HashMap::new(),
            limiters: HashMap::new(),
        }
    }

    /// The rate (per second) and burst of `dest`'s limit this instance holds now.
    fn in_force(&self, id: &str, l: config::DestinationRateLimit) -> (f64, u32) {
        match self.limiters.get(id) {
            Some((k, lim)) if *k == (l.per_second, l.burst) => lim.in_force(),
            _ => {
                // Registered now (with the floor an instance without demand gets), so
                // an instance that has not delivered to it yet still gets a share.
                let f = self
                    .membership
                    .key(&limit_key(id), l.per_second.max(1))
                    .fraction();
                if f <= 0.0 {
                    (0.0, 0)
                } else {
                    split(l.per_second, l.burst, f)
                }
            }
        }
    }

    /// Whether `dest` may not be claimed at `now`, and why.
    pub(crate) fn blocked(&self, dest: &config::Destination, now: Instant) -> Option<Block> {
        let s = self.dests.get(&dest.id)?;
        if let Some(t) = s.open_until.filter(|t| *t > now) {
            return Some(Block::Until(t));
        }
        let half_open = s.failures >= self.threshold;
        if s.in_flight >= dest.max_concurrency || (half_open && s.in_flight >= 1) {
            return Some(Block::Full);
        }
        s.throttled_until.filter(|t| *t > now).map(Block::Until)
    }

    /// How many deliveries to `dest` may start at once now (0 when blocked).
    pub(crate) fn room(&self, dest: &config::Destination, now: Instant) -> u32 {
        if self.blocked(dest, now).is_some() {
            return 0;
        }
        let (in_flight, failures, throttled) = self
            .dests
            .get(&dest.id)
            .map_or((0, 0, false), |s| (s.in_flight, s.failures, s.throttled));
        let mut room = dest.max_concurrency.saturating_sub(in_flight);
        if failures >= self.threshold {
            room = room.min(1);
        }
        if let Some(l) = dest.rate_limit {
            let burst = self.in_force(&dest.id, l).1;
            room = room.min(if throttled { 1 } else { burst });
        }
        room
    }

    /// Takes a slot for a delivery to `dest` if it has one.
    pub(crate) fn try_start(&mut self, dest: &config::Destination, now: Instant) -> bool {
        if self.room(dest, now) == 0 {
            return false;
        }
        self.dests.entry(dest.id.clone()).or_default().in_flight += 1;
        true
    }

    /// Gives back a slot taken by [`Gate::try_start`] for a request that is not sent.
    pub(crate) fn unstart(&mut self, dest: &str) {
        if let Some(s) = self.dests.get_mut(dest) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }

    /// Takes a token of `dest`'s rate limit, or marks it throttled until the next one
    /// and says when that is.
    pub(crate) fn admit(
        &mut self,
        dest: &config::Destination,
        now: Instant,
    ) -> Result<(), Instant> {
        let Some(l) = dest.rate_limit else {
            return Ok(());
        };
        let key = (l.per_second, l.burst);
        let limiter = match self.limiters.get(&dest.id) {
            Some((k, lim)) if *k == key => lim,
            _ => {
                let share = self
                    .membership
                    .key(&limit_key(&dest.id), l.per_second.max(1));
                let lim = SharedBucket::new(share, l.per_second, l.burst);
                self.limiters.insert(dest.id.clone(), (key, lim));
                &self.limiters[&dest.id].1
            }
        };
        let s = self.dests.entry(dest.id.clone()).or_default();
        match limiter.check(now) {
            Ok(()) => {
                if s.throttled {
                    // The bucket was empty: the next token comes one interval later.
                    let rate = limiter.in_force().0.max(1e-6);
                    s.throttled_until = Some(now + Duration::from_secs_f64(1.0 / rate));
                }
                Ok(())
            }
            Err(wait) => {
                let at = now + wait;
                s.throttled = true;
                s.throttled_until = Some(at);
                Err(at)
            }
        }
    }

    /// A claim for `dest` asked for `wanted` and got `got`, all admitted: when it got
    /// fewer, its backlog is drained and it is no longer throttled.
    pub(crate) fn claimed(&mut self, dest: &str, wanted: u32, got: u32) {
        if got < wanted
            && let Some(s) = self.dests.get_mut(dest)
        {
            s.throttled = false;
        }
    }

    /// Records the end of a request to `dest`.
    pub(crate) fn finish(&mut self, dest: &str, outcome: Outcome, now: Instant) {
        let s = self.dests.entry(dest.to_owned()).or_default();
        s.in_flight = s.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Delivered => {
                s.failures = 0;
                s.open_until = None;
                s.cooldown = None;
            }
            Outcome::Failed => {
                s.failures += 1;
                if s.failures >= self.threshold {
                    let cd = s
                        .cooldown
                        .map_or(self.cooldown, |c| (c * 2).min(self.max_cooldown));
                    s.cooldown = Some(cd);
                    s.open_until = Some(now + cd);
                }
            }
            Outcome::Neutral => {}
        }
    }
}

/// The running worker's gate, published for `switchboard status` (held by the engine).
#[derive(Debug, Default)]
pub(crate) struct PublishedGate(pub(crate) Mutex<Option<Arc<Mutex<Gate>>>>);

/// One destination's circuit breaker as this process's worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerView {
    /// Failures in a row.
    pub failures: u32,
    /// Open (no claim until the cool-down ends) or half-open (one trial request).
    pub open: bool,
    /// How long until it lets a trial request through, while open.
    pub reopens_in: Option<Duration>,
}

impl Gate {
    /// The breaker of `dest` at `now`, when it has failed at least once in a row.
    pub(crate) fn breaker(&self, dest: &str, now: Instant) -> Option<BreakerView> {
        let s = self.dests.get(dest).filter(|s| s.failures > 0)?;
        let reopens_in = s
            .open_until
            .filter(|t| *t > now)
            .map(|t| t.saturating_duration_since(now));
        Some(BreakerView {
            failures: s.failures,
            open: s.failures >= self.threshold,
            reopens_in,
        })
    }
}

/// What a request did to the destination's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    Failed,
    /// Not attempted (lease lost, destination gone from config): no breaker change.
    Neutral,
}

/// The delay before the attempt after `attempts` failed ones, or `None` when they are
/// used up. Jitter is ±20 %; `retry_after` is honoured up to 24 h.
pub fn next_delay(
    schedule: &[u64],
    max_attempts: u32,
    attempts: u32,
    retry_after: Option<Duration>,
    unit_random: f64,
) -> Option<Duration> {
    if attempts >= max_attempts {
        return None;
    }
    let idx = (attempts as usize).min(schedule.len().saturating_sub(1));
    let base = schedule.get(idx).copied().unwrap_or(0) as f64;
    let jittered = Duration::from_secs_f64(base * (0.8 + 0.4 * unit_random.clamp(0.0, 1.0)));
    Some(match retry_after {
        Some(r) => jittered.max(r.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

fn unit_random() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

pub use crate::http::parse_retry_after;

fn retry_after(
    h: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, now)
}

/// Counts an attempt's outcome for its destination.
fn attempt_metric(dest: &config::Destination, outcome: &'static str) {
    metrics::counter!(ATTEMPTS, "destination" => dest.id.clone(), "outcome" => outcome)
        .increment(1);
}

/// What one claim pass may take, as the gate stands: destinations left out of the
/// shared claim, the rate-limited ones among them (claimed one by one), and the
/// earliest time a blocked one opens again.
struct ClaimPlan<'a> {
    skip: Vec<String>,
    limited: Vec<&'a config::Destination>,
    reopens: Option<Instant>,
}

/// Reads the gate once for every configured destination: one blocked until a time
/// (an open circuit, a rate limit without a token) is skipped and its reopening
/// noted, one with every slot busy is skipped, and a rate-limited one is kept for its
/// own claim.
fn plan_claim<'a>(cfg: &'a config::Config, gate: &Mutex<Gate>, now: Instant) -> ClaimPlan<'a> {
    let mut plan = ClaimPlan {
        skip: Vec::new(),
        limited: Vec::new(),
        reopens: None,
    };
    let g = gate.lock().unwrap_or_else(|p| p.into_inner());
    for d in &cfg.destinations {
        match g.blocked(d, now) {
            Some(Block::Until(t)) => {
                plan.reopens = Some(plan.reopens.map_or(t, |r| r.min(t)));
                plan.skip.push(d.id.clone());
            }
            Some(Block::Full) => plan.skip.push(d.id.clone()),
            None if d.rate_limit.is_some() => {
                plan.skip.push(d.id.clone());
                plan.limited.push(d);
            }
            None => {}
        }
    }
    plan
}

/// One claim pass: what it reads, and what it gathers.
struct ClaimPass<'a> {
    opts: &'a WorkerOptions,
    cfg: &'a config::Config,
    gate: &'a Mutex<Gate>,
    /// The batch's lease.
    lease: Duration,
    /// Claimed and started at the gate, with their destination.
    out: Vec<(Claimed, config::Destination)>,
    /// The earliest time a blocked destination opens again.
    reopens: Option<Instant>,
}

impl Engine {
    /// Runs the pipeline until `shutdown` resolves: routes unrouted events and delivers
    /// due deliveries. In-flight deliveries finish (bounded by their timeout) before it
    /// returns.
    pub async fn run_delivery_worker(
        &self,
        opts: WorkerOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let gate = Arc::new(Mutex::new(Gate::new(&opts, self.membership().clone())));
        // Shown by `switchboard status` (this process's view of the breakers).
        *self.inner.gate.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(gate.clone());
        let wake = self.pipeline_wake();
        let mut tasks: JoinSet<()> = JoinSet::new();
        // Unrouted events are looked for at start, when poked (a replay, an internal
        // event, a delivery enqueued by intake) and at every poll, not after every
        // finished delivery: intake routes its own events.
        let mut route = true;
        // Queue metrics at most once a second (they are counts over the queue).
        let mut metrics_at: Option<Instant> = None;
        // With deliveries in flight, claim again only once a quarter of the slots are
        // free (or nothing is left in flight): one claim per few deliveries, not per one.
        let refill = (opts.concurrency / 4).max(1);
        tokio::pin!(shutdown);
        loop {
            if route {
                // A full batch means more may wait.
                loop {
                    match self.route_pending().await {
                        Ok(n) if n as u32 == super::ROUTE_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "routing events failed; retrying at the next poll");
                            break;
                        }
                    }
                }
                route = false;
            }
            while tasks.try_join_next().is_some() {}
            let free = opts.concurrency.saturating_sub(tasks.len());
            let (claimed, reopens) = if !tasks.is_empty() && free < refill {
                (Vec::new(), None)
            } else {
                match self.claim_some(&opts, &gate, tasks.len()).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming deliveries failed; retrying at the next poll");
                        (Vec::new(), None)
                    }
                }
            };
            let got = !claimed.is_empty();
            for (c, dest) in claimed {
                let engine = self.clone();
                let gate = gate.clone();
                let margin = opts.lease_margin;
                tasks.spawn(async move {
                    let outcome = engine.deliver_one(&c, &dest, margin).await;
                    gate.lock().unwrap_or_else(|p| p.into_inner()).finish(
                        &dest.id,
                        outcome,
                        engine.instant(),
                    );
                });
            }
            if got && tasks.len() < opts.concurrency {
                continue;
            }
            // Also whenever the worker goes idle, so that an emptied queue reads empty.
            if tasks.is_empty()
                || metrics_at.is_none_or(|t| {
                    self.instant().saturating_duration_since(t) >= Duration::from_secs(1)
                })
            {
                self.publish_queue_metrics().await;
                metrics_at = Some(self.instant());
            }
            let sleep = if opts.concurrency - tasks.len().min(opts.concurrency) < refill {
                // (Nearly) every slot is busy: finishing requests wake the loop.
                opts.poll_interval
            } else {
                let until_due = match self.inner.store.next_due().await {
                    Ok(Some(due)) => (due - self.now()).to_std().unwrap_or(Duration::ZERO),
                    _ => opts.poll_interval,
                };
                // Work that is due but was not claimed waits for a blocked destination
                // (breaker, rate limit) to open, or for a slot: sleep until then rather
                // than spin.
                let until_due = if until_due.is_zero() {
                    reopens.map_or(opts.poll_interval, |t| {
                        t.saturating_duration_since(self.instant())
                    })
                } else {
                    until_due
                };
                until_due.min(opts.poll_interval).max(MIN_SLEEP)
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notified() => route = true,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = self.clock().sleep(sleep) => route = true,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Claims as many deliveries as there are free slots, skipping destinations whose
    /// circuit is open, that are at their `max_concurrency` or out of rate-limit tokens;
    /// rate-limited destinations are claimed one by one, as many as they may take. Also
    /// returns the earliest time a blocked destination opens again.
    async fn claim_some(
        &self,
        opts: &WorkerOptions,
        gate: &Mutex<Gate>,
        busy: usize,
    ) -> EngineResult<(Vec<(Claimed, config::Destination)>, Option<Instant>)> {
        let mut free = opts.concurrency.saturating_sub(busy) as u32;
        if free == 0 {
            return Ok((Vec::new(), None));
        }
        let cfg = self.config();
        // The gate first: a destination whose circuit is open or whose slots are full
        // must not have deliveries claimed (leased) only to be given back.
        let plan = plan_claim(&cfg, gate, self.instant());
        // One lease for the batch, long enough for the slowest destination's request.
        let longest = cfg
            .destinations
            .iter()
            .map(|d| d.timeout_secs)
            .max()
            .unwrap_or(15);
        let mut pass = ClaimPass {
            opts,
            cfg: &cfg,
            gate,
            lease: Duration::from_secs(longest) + opts.lease_margin,
            out: Vec::new(),
            reopens: plan.reopens,
        };

        // Destinations without a rate limit, in one claim.
        free -= self.claim_unlimited(&mut pass, free, &plan.skip).await?;
        // Each rate-limited destination on its own, at most as many as it may take:
        // a shared claim could take more than its tokens allow, and the rest would be
        // claimed only to be given back.
        for d in plan.limited {
            let wanted = gate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .room(d, self.instant())
                .min(free);
            if wanted == 0 {
                continue;
            }
            free -= self.claim_limited(&mut pass, d, wanted).await?;
        }
        Ok((pass.out, pass.reopens))
    }

    /// Claims up to `free` due deliveries to the destinations not in `skip` (one store
    /// round trip), and starts each at the gate. A batch may hold more deliveries to
    /// one destination than it has slots: those are given back at once, due now.
    /// Returns how many were claimed (slots they took, started or not).
    async fn claim_unlimited(
        &self,
        pass: &mut ClaimPass<'_>,
        free: u32,
        skip: &[String],
    ) -> EngineResult<u32> {
        let claimed = self.claim(pass.opts, free, pass.lease, skip).await?;
        let n = claimed.len() as u32;
        for c in claimed {
            let Some(dest) = self.configured(pass.cfg, &c).await? else {
                continue;
            };
            let take = pass
                .gate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_start(dest, self.instant());
            if take {
                pass.out.push((c, dest.clone()));
            } else {
                self.inner
                    .store
                    .release_delivery(&c.id, c.fence, self.now())
                    .await?;
            }
        }
        Ok(n)
    }

    /// Claims up to `wanted` due deliveries to the rate-limited destination `d` and
    /// admits each through its slots and its token bucket. Once the bucket refuses,
    /// the rest of the batch is given back due when the next token is (and that time
    /// joins `reopens`, so the worker sleeps until then rather than spin); one whose
    /// slots filled meanwhile is given back due now. Only a batch admitted whole tells
    /// the gate how much was there to take. Returns how many were claimed.
    async fn claim_limited(
        &self,
        pass: &mut ClaimPass<'_>,
        d: &config::Destination,
        wanted: u32,
    ) -> EngineResult<u32> {
        let others: Vec<String> = pass
            .cfg
            .destinations
            .iter()
            .filter(|o| o.id != d.id)
            .map(|o| o.id.clone())
            .collect();
        let claimed = self.claim(pass.opts, wanted, pass.lease, &others).await?;
        let got = claimed.len() as u32;
        let mut all_admitted = true;
        let mut refused_until: Option<Instant> = None;
        for c in claimed {
            let Some(dest) = self.configured(pass.cfg, &c).await? else {
                continue;
            };
            let admitted = match refused_until {
                Some(at) => Err(at),
                None => {
                    let mut g = pass.gate.lock().unwrap_or_else(|p| p.into_inner());
                    let now = self.instant();
                    if g.try_start(dest, now) {
                        g.admit(dest, now)
                            .map(|()| true)
                            .inspect_err(|_| g.unstart(&dest.id))
                    } else {
                        Ok(false)
                    }
                }
            };
            let due = match admitted {
                Ok(true) => {
                    pass.out.push((c, dest.clone()));
                    continue;
                }
                // Its slots filled meanwhile.
                Ok(false) => self.now(),
                // Over the limit: give it back, due when the next token is.
                Err(at) => {
                    refused_until = Some(at);
                    pass.reopens = Some(pass.reopens.map_or(at, |r| r.min(at)));
                    let wait = at.saturating_duration_since(self.instant());
                    self.now() + chrono::Duration::milliseconds(wait.as_millis() as i64)
                }
            };
            all_admitted = false;
            self.inner
                .store
                .release_delivery(&c.id, c.fence, due)
                .await?;
        }
        if all_admitted {
            pass.gate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .claimed(&d.id, wanted, got);
        }
        Ok(got)
    }

    /// Claims up to `limit` due deliveries, except those to `skip`.
    async fn claim(
        &self,
        opts: &WorkerOptions,
        limit: u32,
        lease: Duration,
        skip: &[String],
    ) -> EngineResult<Vec<Claimed>> {
        let now = self.now();
        let lease_until = now + chrono::Duration::milliseconds(lease.as_millis() as i64);
        Ok(self
            .inner
            .store
            .claim_deliveries(&opts.owner, limit, now, lease_until, skip)
            .await?)
    }

    /// The configuration of a claimed delivery's destination; a delivery to one that is
    /// no longer configured is made dead (a replay revives it once it is back).
    async fn configured<'c>(
        &self,
        cfg: &'c config::Config,
        c: &Claimed,
    ) -> EngineResult<Option<&'c config::Destination>> {
        if let Some(d) = cfg.destinations.iter().find(|d| d.id == c.destination) {
            return Ok(Some(d));
        }
        let f = Failure {
            retry_at: None,
            status: None,
            error: format!(
                "destination {:?} is no longer configured; add it back to [[destinations]] and replay",
                c.destination
            ),
        };
        self.inner.store.fail_delivery(&c.id, c.fence, &f).await?;
        Ok(None)
    }

    /// The circuit breakers of this process's delivery worker that have failures, by
    /// destination; empty when no worker runs here. Breakers are per process: another
    /// instance may see a destination differently.
    pub fn breakers(&self) -> HashMap<String, BreakerView> {
        let Some(gate) = self
            .inner
            .gate
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return HashMap::new();
        };
        let now = self.instant();
        let gate = gate.lock().unwrap_or_else(|p| p.into_inner());
        self.config()
            .destinations
            .iter()
            .filter_map(|d| Some((d.id.clone(), gate.breaker(&d.id, now)?)))
            .collect()
    }

    async fn publish_queue_metrics(&self) {
        if let Ok(s) = self.inner.store.queue_stats().await {
            metrics::gauge!(QUEUE_DEPTH).set(s.depth as f64);
            metrics::gauge!(DEAD).set(s.dead as f64);
            let age = s.oldest_pending.map_or(0.0, |t| {
                (self.now() - t).num_milliseconds().max(0) as f64 / 1e3
            });
            metrics::gauge!(OLDEST_PENDING).set(age);
        }
        self.publish_destination_states().await;
    }

    /// Sends one claimed delivery and records the outcome; the lease is the request
    /// timeout plus `lease_margin`.
    pub(crate) async fn deliver_one(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        lease_margin: Duration,
    ) -> Outcome {
        match self.try_deliver(c, dest, lease_margin).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(delivery = %c.id, destination = %dest.id, error = %e, "recording a delivery outcome failed; the lease will expire and the delivery be retried");
                Outcome::Neutral
            }
        }
    }

    /// One attempt: the delivery sent under its lease, then its outcome recorded under
    /// the lease's fence (delivered, or a failure with its next try). A lease lost at
    /// any point means another worker owns the delivery now: this attempt is dropped
    /// without a record ([`Outcome::Neutral`]).
    async fn try_deliver(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        lease_margin: Duration,
    ) -> EngineResult<Outcome> {
        let started_at = self.now();
        let started = self.instant();
        let Some(result) = self.send_under_lease(c, dest, lease_margin).await else {
            return Ok(Outcome::Neutral);
        };
        let mut attempt = NewAttempt {
            started_at,
            duration_ms: u64::try_from(self.instant().duration_since(started).as_millis())
                .unwrap_or(u64::MAX),
            status: None,
            outcome: String::new(),
            excerpt: None,
        };
        let (status, error, after) = match result {
            Ok(answer) if (200..300).contains(&answer.status) => {
                attempt.status = Some(answer.status);
                attempt.outcome = "delivered".into();
                attempt.excerpt = answer.excerpt;
                return self
                    .record_delivered(c, dest, answer.status, &attempt)
                    .await;
            }
            Ok(answer) if answer.status == 410 => {
                attempt.status = Some(410);
                attempt.outcome = "gone".into();
                attempt.excerpt = answer.excerpt;
                self.disable_gone(c, dest).await?;
                (
                    Some(410),
                    "HTTP 410 Gone: destination disabled".to_owned(),
                    None,
                )
            }
            Ok(answer) => {
                attempt.status = Some(answer.status);
                attempt.outcome = "http_error".into();
                attempt.excerpt = answer.excerpt;
                let status = answer.status;
                (Some(status), format!("HTTP {status}"), answer.retry_after)
            }
            Err(e) => {
                attempt.outcome = "network".into();
                (None, e, None)
            }
        };
        self.record_failure(c, dest, status, error, after, &attempt)
            .await
    }

    /// Posts the delivery, renewing its lease while the request runs (the destination
    /// may take up to its timeout, longer than a lease granted at claim time should
    /// have to cover). `None` when the lease was lost meanwhile: the request is given
    /// up, since its outcome could not be recorded.
    async fn send_under_lease(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        lease_margin: Duration,
    ) -> Option<Result<Answer, String>> {
        let now = self.now();
        let data: serde_json::Value =
            serde_json::from_str(&c.data).unwrap_or(serde_json::Value::Null);
        let body = serde_json::json!({
            "type": c.event_type,
            "timestamp": c.received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        let timeout = Duration::from_secs(dest.timeout_secs);
        let sent = self.post_signed(c, dest, body.as_bytes(), now.timestamp(), timeout);
        let lease = timeout + lease_margin;
        let renew_every = (lease / 3).max(Duration::from_millis(100));
        tokio::pin!(sent);
        loop {
            tokio::select! {
                r = &mut sent => return Some(r),
                () = self.clock().sleep(renew_every) => {
                    let until = self.now() + chrono::Duration::milliseconds(lease.as_millis() as i64);
                    match self.inner.store.renew_lease(&c.id, c.fence, until).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(delivery = %c.id, destination = %dest.id, "delivery lease lost while sending (another worker took it over); abandoning this attempt");
                            attempt_metric(dest, "lost_lease");
                            return None;
                        }
                        // A store hiccup: the lease still has a third or more to run,
                        // so the next renewal may yet succeed.
                        Err(e) => {
                            tracing::warn!(delivery = %c.id, error = %e, "renewing a delivery lease failed; retrying at the next renewal");
                        }
                    }
                }
            }
        }
    }

    /// Records a 2xx under the fence, and how long the event took from intake to here.
    async fn record_delivered(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        status: u16,
        attempt: &NewAttempt,
    ) -> EngineResult<Outcome> {
        let ok = self
            .inner
            .store
            .complete_attempt(&c.id, c.fence, status, self.now(), attempt)
            .await?;
        if !ok {
            attempt_metric(dest, "lost_lease");
            return Ok(Outcome::Neutral);
        }
        attempt_metric(dest, "delivered");
        let secs = (self.now() - c.received_at).num_milliseconds().max(0) as f64 / 1e3;
        metrics::histogram!(LATENCY, "destination" => dest.id.clone()).record(secs);
        Ok(Outcome::Delivered)
    }

    /// A 410 Gone says the endpoint will not come back: the destination is disabled
    /// (its deliveries wait, they are not failed one by one) until an operator enables
    /// it again. Audited once, by the worker that flipped it.
    async fn disable_gone(&self, c: &Claimed, dest: &config::Destination) -> EngineResult<()> {
        if self
            .inner
            .store
            .set_destination_disabled(&dest.id, true, Some("answered 410 Gone"), self.now())
            .await?
        {
            tracing::warn!(destination = %dest.id, "destination answered 410 Gone: disabled; its deliveries wait until it is enabled again");
            self.publish_destination_states().await;
            let _ = self
                .audit(
                    &Actor::System,
                    "destination.disable",
                    &dest.id,
                    serde_json::json!({ "reason": "410 Gone", "delivery": c.id }),
                )
                .await;
        }
        Ok(())
    }

    /// Records a failed attempt under the fence, with the next try from the
    /// destination's retry schedule (or the `Retry-After` it sent, within bounds); past
    /// `max_attempts` there is none and the delivery is dead, which is logged since
    /// only a replay brings it back.
    async fn record_failure(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
        attempt: &NewAttempt,
    ) -> EngineResult<Outcome> {
        let delay = next_delay(
            &dest.retry_schedule_secs,
            dest.max_attempts,
            c.attempts,
            after,
            unit_random(),
        );
        let failure = Failure {
            retry_at: delay
                .map(|d| self.now() + chrono::Duration::milliseconds(d.as_millis() as i64)),
            status,
            error,
        };
        if !self
            .inner
            .store
            .fail_attempt(&c.id, c.fence, &failure, attempt)
            .await?
        {
            attempt_metric(dest, "lost_lease");
            return Ok(Outcome::Neutral);
        }
        if failure.retry_at.is_none() {
            attempt_metric(dest, "dead");
            tracing::warn!(delivery = %c.id, event = %c.event_id, destination = %dest.id, attempts = c.attempts, error = %failure.error, "delivery is dead after its last attempt; replay it once the destination works");
        } else {
            attempt_metric(dest, if status == Some(410) { "gone" } else { "retry" });
        }
        Ok(Outcome::Failed)
    }

    /// POSTs the body signed per Standard Webhooks; the status, `Retry-After` and the
    /// start of the response body, or why no answer came (never the URL's query or a
    /// secret).
    async fn post_signed(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        body: &[u8],
        timestamp: i64,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let outbound = self.outbound();
        let url = outbound.check(&dest.url).map_err(|e| e.to_string())?;
        let input = SignRequest {
            method: "POST",
            url: url.as_str(),
            body,
            form: None,
            timestamp,
            id: Some(&c.id),
        };
        let signed = signatures::sign(&Scheme::StandardWebhooks, &signing_keys(dest), &input)
            .map_err(|e| format!("cannot sign: {e}"))?;
        let mut req = outbound
            .client()
            .post(url.clone())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-switchboard-event-id", &c.event_id)
            .header("x-switchboard-integration", &c.integration);
        for (n, v) in &signed.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let resp = req
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| crate::http::OutboundError::from_reqwest(&url, e).to_string())?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers(), self.now());
        let excerpt = read_excerpt(resp).await;
        Ok(Answer {
            status,
            retry_after,
            excerpt,
        })
    }
}

/// A destination's answer.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    /// What [`response_excerpt`] keeps of the body.
    excerpt: Option<String>,
}

/// How much of a response body is read to make its excerpt: a JSON answer up to this
/// size is parsed so that its secret-looking keys can be redacted; the rest of a longer
/// body is not read.
const EXCERPT_READ_BYTES: usize = 16 * 1024;

/// Reads at most [`EXCERPT_READ_BYTES`] (and one byte more, to know whether there was
/// more) of the body; a body that fails midway keeps what came.
async fn read_excerpt(mut resp: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    let mut complete = true;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > EXCERPT_READ_BYTES {
                    complete = false;
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    response_excerpt(&body, complete)
}

/// The excerpt of a response body kept with its attempt: `None` when empty; a JSON body
/// (read whole) with the values of its secret-looking keys redacted; JSON that could not
/// be read whole is left out, since it cannot be checked; other text as it came, with
/// invalid UTF-8 replaced and `key=value` / `key: value` pairs of secret-looking keys
/// and bearer tokens redacted. Cut to [`store::EXCERPT_MAX_BYTES`] at a character
/// boundary.
pub(crate) fn response_excerpt(body: &[u8], complete: bool) -> Option<String> {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return None;
    }
    let text = if matches!(trimmed.first(), Some(b'{' | b'[')) {
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return (!complete).then(|| "[JSON not shown: longer than 16 KiB]".to_owned());
        };
        super::redact::redact_value(&mut v, &[]);
        v.to_string()
    } else {
        redact_text(&String::from_utf8_lossy(body))
    };
    Some(store::cap_excerpt(&text).to_owned())
}

/// Text with the values of secret-looking `key=value` / `key: value` pairs, and the
/// token after `Bearer`, replaced by `[redacted]`.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut redact_next = false;
    for piece in text.split_inclusive(|c: char| c.is_whitespace() || c == '&' || c == ',') {
        let word = piece.trim_end_matches(|c: char| c.is_whitespace() || c == '&' || c == ',');
        let sep = &piece[word.len()..];
        let scheme = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic");
        if redact_next && !word.is_empty() && !scheme {
            out.push_str("[redacted]");
            out.push_str(sep);
            redact_next = false;
            continue;
        }
        let key_end = word.find(['=', ':']);
        match key_end {
            Some(i) if super::redact::is_secret_key(word[..i].trim_matches('"')) => {
                out.push_str(&word[..=i]);
                if word[i + 1..].is_empty() {
                    redact_next = true;
                } else {
                    out.push_str("[redacted]");
                }
            }
            _ => {
                out.push_str(word);
                redact_next = scheme || (redact_next && word.is_empty());
            }
        }
        out.push_str(sep);
    }
    out
}

/// The keys a destination signs with: its `whsec_` secret (`v1`), then its `whsk_`
/// signing key (`v1a`).
fn signing_keys(dest: &config::Destination) -> Vec<SecretString> {
    dest.secret
        .iter()
        .chain(dest.signing_key.iter())
        .cloned()
        .collect()
}

/// The default lease margin, in seconds.
const LEASE_MARGIN_SECS: u64 = 30;

/// The lease of a request with this timeout under the default margin: never shorter
/// than the timeout.
pub fn lease_secs(timeout_secs: u64) -> u64 {
    timeout_secs + LEASE_MARGIN_SECS
}

#[cfg(test)]
mod excerpt_tests {
    use super::response_excerpt;

    #[test]
    fn excerpts_are_capped_redacted_and_never_empty() {
        assert_eq!(response_excerpt(b"", true), None);
        assert_eq!(response_excerpt(b"  \n", true), None);
        let long = "é".repeat(2000);
        let got = response_excerpt(long.as_bytes(), false).unwrap();
        assert_eq!(got.len(), 1024);
        assert!(got.chars().all(|c| c == 'é'));
        assert_eq!(
            response_excerpt(b"\xff\xfeok", true).unwrap(),
            "\u{fffd}\u{fffd}ok"
        );
        assert_eq!(
            response_excerpt(br#"[{"password":"pw","x":"y"}]"#, true).unwrap(),
            r#"[{"password":"[redacted]","x":"y"}]"#
        );
        assert_eq!(
            response_excerpt(br#"{"secret": "cut"#, false).unwrap(),
            "[JSON not shown: longer than 16 KiB]"
        );
        assert_eq!(
            response_excerpt(b"api_key=abc&name=x, secret: s1,Bearer t2", true).unwrap(),
            "api_key=[redacted]&name=x, secret: [redacted],Bearer [redacted]"
        );
    }
}
