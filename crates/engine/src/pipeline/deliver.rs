//! The delivery worker: claims due deliveries with a lease, POSTs each mapped event to its
//! destination signed per Standard Webhooks, and records the outcome.
//!
//! - `webhook-id` is the delivery id (stable across retries and replays), with
//!   `webhook-timestamp` and `webhook-signature` (`v1,…`). The body is
//!   `{"type", "timestamp", "data"}`; `x-switchboard-event-id` names the event.
//! - 2xx delivers. 410 Gone disables the destination (persisted; its deliveries wait) and
//!   counts as a failed attempt. Anything else (other statuses, timeouts, refused
//!   connections) retries per the destination's `retry_schedule_secs` with ±20 % jitter,
//!   never earlier than a `Retry-After` (capped at 24 h); after `max_attempts` the
//!   delivery is `dead`.
//! - The lease is the request timeout + 30 s and is renewed every third of that while the
//!   request runs, so it never lapses under a live request; a crashed worker's deliveries
//!   are taken over once their lease expires.
//! - A circuit breaker per destination: after `breaker_threshold` (5) failures in a row
//!   no delivery to it is claimed for `breaker_cooldown` (30 s, doubling up to 10 min
//!   while trial requests fail); then one trial request at a time until one succeeds.
//! - Idle, the worker sleeps until woken (intake, replay), until the next due delivery,
//!   or for `poll_interval` (work enqueued by other processes), whichever comes first.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signatures::{Scheme, SignRequest};
use store::{Claimed, Failure};
use tokio::task::JoinSet;

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
        }
    }
}

/// One destination's circuit breaker and in-flight count.
#[derive(Debug, Default)]
struct DestState {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Option<Duration>,
    in_flight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
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

/// `Retry-After` in seconds (the date form is not honoured).
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
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
        let states: Arc<Mutex<HashMap<String, DestState>>> = Arc::default();
        let wake = self.pipeline_wake();
        let mut tasks: JoinSet<()> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            // Route what is waiting (every batch; a full batch means more may wait).
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
            let claimed = match self.claim_some(&opts, &states, tasks.len()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; retrying at the next poll");
                    Vec::new()
                }
            };
            let got = !claimed.is_empty();
            for (c, dest) in claimed {
                let engine = self.clone();
                let states = states.clone();
                let o = opts.clone();
                tasks.spawn(async move {
                    let outcome = engine.deliver_one(&c, &dest).await;
                    let mut map = states.lock().unwrap_or_else(|p| p.into_inner());
                    let s = map.entry(dest.id.clone()).or_default();
                    s.in_flight = s.in_flight.saturating_sub(1);
                    match outcome {
                        Outcome::Delivered => {
                            *s = DestState {
                                in_flight: s.in_flight,
                                ..Default::default()
                            };
                        }
                        Outcome::Failed => {
                            s.failures += 1;
                            if s.failures >= o.breaker_threshold {
                                let cd = s.cooldown.map_or(o.breaker_cooldown, |c| {
                                    (c * 2).min(o.breaker_max_cooldown)
                                });
                                s.cooldown = Some(cd);
                                s.open_until = Some(Instant::now() + cd);
                            }
                        }
                        Outcome::Neutral => {}
                    }
                });
            }
            if got && tasks.len() < opts.concurrency {
                continue;
            }
            self.publish_queue_metrics().await;
            let sleep = match self.inner.store.next_due().await {
                Ok(Some(due)) => (due - store::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(opts.poll_interval),
                _ => opts.poll_interval,
            };
            // With every slot busy, wait for one to free up instead.
            let sleep = if tasks.len() >= opts.concurrency {
                opts.poll_interval
            } else {
                sleep.max(Duration::from_millis(20))
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Claims as many deliveries as there are free slots, skipping destinations whose
    /// circuit is open or that are at their `max_concurrency`.
    async fn claim_some(
        &self,
        opts: &WorkerOptions,
        states: &Arc<Mutex<HashMap<String, DestState>>>,
        busy: usize,
    ) -> EngineResult<Vec<(Claimed, config::Destination)>> {
        let free = opts.concurrency.saturating_sub(busy);
        if free == 0 {
            return Ok(Vec::new());
        }
        let cfg = self.config();
        let skip: Vec<String> = {
            let map = states.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            map.iter()
                .filter(|(id, s)| {
                    let limit = cfg
                        .destinations
                        .iter()
                        .find(|d| &d.id == *id)
                        .map_or(1, |d| d.max_concurrency);
                    let open = s.open_until.is_some_and(|t| t > now);
                    // Half-open: one trial request at a time.
                    let trial = s.failures >= opts.breaker_threshold && s.in_flight >= 1;
                    open || trial || s.in_flight >= limit
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let longest = cfg
            .destinations
            .iter()
            .map(|d| d.timeout_secs)
            .max()
            .unwrap_or(15);
        let now = store::now();
        let lease_until = now + chrono::Duration::seconds(lease_secs(longest) as i64);
        let claimed = self
            .inner
            .store
            .claim_deliveries(&opts.owner, free as u32, now, lease_until, &skip)
            .await?;
        let mut out = Vec::with_capacity(claimed.len());
        for c in claimed {
            let Some(dest) = cfg.destinations.iter().find(|d| d.id == c.destination) else {
                let f = Failure {
                    retry_at: None,
                    status: None,
                    error: format!(
                        "destination {:?} is no longer configured; add it back to [[destinations]] and replay",
                        c.destination
                    ),
                };
                self.inner.store.fail_delivery(&c.id, c.fence, &f).await?;
                continue;
            };
            let take = {
                let mut map = states.lock().unwrap_or_else(|p| p.into_inner());
                let s = map.entry(dest.id.clone()).or_default();
                let half_open = s.failures >= opts.breaker_threshold;
                let full = s.in_flight >= dest.max_concurrency || (half_open && s.in_flight >= 1);
                if !full {
                    s.in_flight += 1;
                }
                !full
            };
            if take {
                out.push((c, dest.clone()));
            } else {
                self.inner
                    .store
                    .release_delivery(&c.id, c.fence, store::now())
                    .await?;
            }
        }
        Ok(out)
    }

    async fn publish_queue_metrics(&self) {
        if let Ok(s) = self.inner.store.queue_stats().await {
            metrics::gauge!(QUEUE_DEPTH).set(s.depth as f64);
            metrics::gauge!(DEAD).set(s.dead as f64);
            let age = s.oldest_pending.map_or(0.0, |t| {
                (store::now() - t).num_milliseconds().max(0) as f64 / 1e3
            });
            metrics::gauge!(OLDEST_PENDING).set(age);
        }
    }

    /// Sends one claimed delivery and records the outcome.
    async fn deliver_one(&self, c: &Claimed, dest: &config::Destination) -> Outcome {
        match self.try_deliver(c, dest).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(delivery = %c.id, destination = %dest.id, error = %e, "recording a delivery outcome failed; the lease will expire and the delivery be retried");
                Outcome::Neutral
            }
        }
    }

    async fn try_deliver(&self, c: &Claimed, dest: &config::Destination) -> EngineResult<Outcome> {
        let store = &self.inner.store;
        let now = store::now();
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
        // Renew the lease while the request runs.
        let lease = lease_secs(dest.timeout_secs);
        let renew_every = Duration::from_secs((lease / 3).max(1));
        tokio::pin!(sent);
        let result = loop {
            tokio::select! {
                r = &mut sent => break r,
                () = tokio::time::sleep(renew_every) => {
                    let until = store::now() + chrono::Duration::seconds(lease as i64);
                    if !store.renew_lease(&c.id, c.fence, until).await.unwrap_or(false) {
                        tracing::warn!(delivery = %c.id, "delivery lease lost while sending; its outcome will not be recorded");
                    }
                }
            }
        };
        let count = |outcome: &'static str| {
            metrics::counter!(ATTEMPTS, "destination" => dest.id.clone(), "outcome" => outcome)
                .increment(1);
        };
        let (status, error, after) = match result {
            Ok((status, _)) if (200..300).contains(&status) => {
                let ok = store
                    .complete_delivery(&c.id, c.fence, status, store::now())
                    .await?;
                if !ok {
                    count("lost_lease");
                    return Ok(Outcome::Neutral);
                }
                count("delivered");
                let secs = (store::now() - c.received_at).num_milliseconds().max(0) as f64 / 1e3;
                metrics::histogram!(LATENCY, "destination" => dest.id.clone()).record(secs);
                return Ok(Outcome::Delivered);
            }
            Ok((410, _)) => {
                if store
                    .set_destination_disabled(
                        &dest.id,
                        true,
                        Some("answered 410 Gone"),
                        store::now(),
                    )
                    .await?
                {
                    tracing::warn!(destination = %dest.id, "destination answered 410 Gone: disabled; its deliveries wait until it is enabled again");
                    let _ = self
                        .audit(
                            &Actor::System,
                            "destination.disable",
                            &dest.id,
                            serde_json::json!({ "reason": "410 Gone", "delivery": c.id }),
                        )
                        .await;
                }
                count("gone");
                (
                    Some(410),
                    "HTTP 410 Gone: destination disabled".to_owned(),
                    None,
                )
            }
            Ok((status, after)) => (Some(status), format!("HTTP {status}"), after),
            Err(e) => (None, e, None),
        };
        let delay = next_delay(
            &dest.retry_schedule_secs,
            dest.max_attempts,
            c.attempts,
            after,
            unit_random(),
        );
        let failure = Failure {
            retry_at: delay
                .map(|d| store::now() + chrono::Duration::milliseconds(d.as_millis() as i64)),
            status,
            error,
        };
        if !store.fail_delivery(&c.id, c.fence, &failure).await? {
            count("lost_lease");
            return Ok(Outcome::Neutral);
        }
        if failure.retry_at.is_none() {
            count("dead");
            tracing::warn!(delivery = %c.id, event = %c.event_id, destination = %dest.id, attempts = c.attempts, error = %failure.error, "delivery is dead after its last attempt; replay it once the destination works");
        } else {
            count(if status == Some(410) { "gone" } else { "retry" });
        }
        Ok(Outcome::Failed)
    }

    /// POSTs the body signed per Standard Webhooks; the status and `Retry-After`, or why
    /// no answer came (never the URL's query or a secret).
    async fn post_signed(
        &self,
        c: &Claimed,
        dest: &config::Destination,
        body: &[u8],
        timestamp: i64,
        timeout: Duration,
    ) -> Result<(u16, Option<Duration>), String> {
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
        let signed = signatures::sign(
            &Scheme::StandardWebhooks,
            std::slice::from_ref(&dest.secret),
            &input,
        )
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
        let after = retry_after(resp.headers());
        Ok((status, after))
    }
}

/// The lease of a request with this timeout: never shorter than the timeout.
pub fn lease_secs(timeout_secs: u64) -> u64 {
    timeout_secs + 30
}
