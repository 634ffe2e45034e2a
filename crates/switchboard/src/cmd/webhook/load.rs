//! `switchboard webhook test INTEGRATION --count N --concurrency C`: a load test of a
//! deployment. Signs N sample events as the provider would (each its own id and
//! timestamp), sends them with C senders at once behind a progress bar, then follows
//! their deliveries through the events API (bounded by `--wait-secs`) and reports:
//! accepted and refused (by HTTP status) counts, intake latency (request to answer, as
//! this client measured it), end-to-end latency (received → delivered, from the times
//! the server stored) and throughput.
//!
//! It refuses (exit 2) to send to an integration whose events go to destinations (per
//! the configuration) unless `--yes`: a load test would deliver every sample to them.
//! Exit 1 when a sample was refused or not delivered in time, 0 otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use client::{EventDetail, SecretString};
use serde::Serialize;
use signatures::Scheme;

use super::test::{Signed, TestArgs, provider_sample, sample_event_id, sign_sample};
use crate::exit::{CliError, Outcome};
use crate::output::{print_json, progress};
use crate::remote::explain;

/// What one send did.
struct Sent {
    /// HTTP status, or `None` when the request failed.
    status: Option<u16>,
    /// The stored event's id (accepted ones).
    event_id: Option<String>,
    /// Request to answer.
    latency: Duration,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `ms`; `None` when empty.
    fn of(mut ms: Vec<f64>) -> Option<Self> {
        if ms.is_empty() {
            return None;
        }
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[rank.clamp(1, ms.len()) - 1]
        };
        Some(Self {
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: ms[ms.len() - 1],
        })
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
            self.p50, self.p90, self.p99, self.max
        )
    }
}

/// Where the accepted samples' deliveries stand at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    /// Deliveries delivered.
    pub delivered: u64,
    /// Deliveries dead.
    pub dead: u64,
    /// Deliveries still waiting when the wait ended.
    pub pending: u64,
    /// Accepted events that went to no destination (mapping dropped them, none
    /// matches).
    pub events_without_delivery: u64,
    /// Accepted events not routed yet when the wait ended.
    pub events_unrouted: u64,
    /// How long the wait took, in seconds.
    pub waited_secs: f64,
    /// Whether the wait ended before everything settled.
    pub timed_out: bool,
}

/// The load test's report (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The integration.
    pub integration: String,
    /// Its signature scheme.
    pub scheme: String,
    /// Samples sent.
    pub count: u64,
    /// Senders at once.
    pub concurrency: u64,
    /// Answered 2xx.
    pub accepted: u64,
    /// Refused, by HTTP status (`"401"`), or `"error"` when no answer came.
    pub refused: BTreeMap<String, u64>,
    /// From the first send to the last answer, in seconds.
    pub send_secs: f64,
    /// Samples answered per second over `send_secs`.
    pub throughput_per_sec: f64,
    /// Request to answer, as this client measured it.
    pub intake_latency_ms: Option<Percentiles>,
    /// The accepted samples' deliveries (absent with `--wait-secs 0`).
    pub deliveries: Option<DeliveryReport>,
    /// Received → delivered, from the times the server stored.
    pub end_to_end_latency_ms: Option<Percentiles>,
    /// Every sample accepted and every delivery delivered.
    pub ok: bool,
}

/// Runs the load test (see the module documentation).
pub async fn run(
    args: TestArgs,
    cfg: &config::Config,
    integration: &config::Integration,
    scheme: &Scheme,
    json: bool,
) -> anyhow::Result<Outcome> {
    let concurrency = args.concurrency.unwrap_or(1).min(args.count);
    let live: Vec<&config::Destination> = cfg
        .destinations
        .iter()
        .filter(|d| d.integrations.is_empty() || d.integrations.contains(&integration.id))
        .collect();
    if !live.is_empty() && !args.yes {
        let names: Vec<String> = live
            .iter()
            .map(|d| format!("{} ({})", d.id, engine::pipeline::admin::redact_url(&d.url)))
            .collect();
        return Err(CliError::new(
            "live_destinations",
            format!(
                "integration {} delivers its events to {}: a load test would send {} sample events there. \
                 Run it against a staging deployment, or pass --yes to send anyway",
                integration.id,
                names.join(", "),
                args.count
            ),
        )
        .into());
    }
    let events_api = if args.wait_secs == 0 {
        None
    } else {
        match args.api_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => Some(client::Client::new(
                &args.url,
                SecretString::from(k.to_owned()),
            )?),
            _ => {
                return Err(CliError::usage(
                    "a load test follows its deliveries through the events API: set SWITCHBOARD_API_KEY \
                     (an app or admin key of the server; `switchboard api-key create NAME --scope app`), \
                     or pass --wait-secs 0 to only send",
                )
                .into());
            }
        }
    };
    let body = match &args.event {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            CliError::new(
                "unreadable_file",
                format!("cannot read event file {}: {e}", p.display()),
            )
        })?),
        None => None,
    };

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;
    let run_start = chrono::Utc::now();
    // The provider's sample, when its event id follows `{event_id}`: where the id is a
    // digest of a body that changes only with the time, many samples a second would be
    // duplicates, so those providers get the generic body (each with its own id).
    let sample = provider_sample(integration).filter(|_| {
        catalog::Catalog::builtin()
            .get(&integration.provider)
            .and_then(|p| p.webhooks.as_ref()?.event_id.as_ref())
            .is_some_and(|l| {
                matches!(
                    l,
                    catalog::Location::Header(_) | catalog::Location::Pointer(_)
                )
            })
    });
    let bar = progress(
        args.count,
        "sending  {bar:40} {pos}/{len} {per_sec} {elapsed}",
        json,
    );
    let next = Arc::new(AtomicU64::new(0));
    let shared = Arc::new((
        cfg.public_url.clone(),
        args.url.clone(),
        integration.clone(),
        scheme.clone(),
        body,
        (run_start, sample),
    ));
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, shared, http, bar, count) = (
            next.clone(),
            shared.clone(),
            http.clone(),
            bar.clone(),
            args.count,
        );
        senders.spawn(async move {
            let (public_url, server_url, integration, scheme, body, (run_start, sample)) = &*shared;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sample_id = sample_event_id(*run_start, i);
                let signed = sign_sample(
                    public_url,
                    server_url,
                    integration,
                    scheme,
                    sample.as_ref(),
                    &sample_id,
                    body.clone(),
                    chrono::Utc::now(),
                )?;
                out.push(send(&http, signed).await);
                bar.inc(1);
            }
            anyhow::Ok(out)
        });
    }
    let mut sent = Vec::with_capacity(args.count as usize);
    while let Some(r) = senders.join_next().await {
        sent.extend(r??);
    }
    let send_secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let mut accepted_ids = Vec::new();
    for s in &sent {
        match (s.status, &s.event_id) {
            (Some(200..=299), Some(id)) => accepted_ids.push(id.clone()),
            (Some(200..=299), None) => *refused.entry("no_event_id".into()).or_default() += 1,
            (Some(status), _) => *refused.entry(status.to_string()).or_default() += 1,
            (None, _) => *refused.entry("error".into()).or_default() += 1,
        }
    }
    let intake = Percentiles::of(
        sent.iter()
            .filter(|s| s.status.is_some())
            .map(|s| s.latency.as_secs_f64() * 1000.0)
            .collect(),
    );
    let (deliveries, e2e) = match &events_api {
        Some(c) => {
            let (d, e2e) = follow(
                c,
                &accepted_ids,
                Duration::from_secs(args.wait_secs),
                concurrency,
                json,
            )
            .await?;
            (Some(d), e2e)
        }
        None => (None, None),
    };
    let ok = refused.is_empty()
        && deliveries
            .as_ref()
            .is_none_or(|d| d.dead == 0 && d.pending == 0 && !d.timed_out);
    let report = LoadReport {
        integration: integration.id.clone(),
        scheme: scheme.name().to_owned(),
        count: args.count,
        concurrency,
        accepted: accepted_ids.len() as u64,
        refused,
        send_secs,
        throughput_per_sec: if send_secs > 0.0 {
            sent.len() as f64 / send_secs
        } else {
            0.0
        },
        intake_latency_ms: intake,
        deliveries,
        end_to_end_latency_ms: e2e,
        ok,
    };
    if json {
        print_json(&report)?;
    } else {
        print_report(&report, &args.url);
    }
    Ok(Outcome::from_ok(ok))
}

/// Sends one signed sample and times it.
async fn send(http: &reqwest::Client, s: Signed) -> Sent {
    let mut rb = http
        .post(&s.target)
        .header("content-type", s.content_type.as_str())
        .header("user-agent", "switchboard-webhook-test");
    for (n, v) in &s.headers {
        rb = rb.header(n, v);
    }
    let t = Instant::now();
    match rb.body(s.body).send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            let answer: serde_json::Value = res.json().await.unwrap_or_default();
            Sent {
                status: Some(status),
                event_id: answer["id"].as_str().map(str::to_owned),
                latency: t.elapsed(),
            }
        }
        Err(_) => Sent {
            status: None,
            event_id: None,
            latency: t.elapsed(),
        },
    }
}

/// Polls the events API for `ids` until every one is settled (routed, and no delivery
/// waiting) or `wait` has passed; `concurrency` requests at once.
async fn follow(
    c: &client::Client,
    ids: &[String],
    wait: Duration,
    concurrency: u64,
    json: bool,
) -> anyhow::Result<(DeliveryReport, Option<Percentiles>)> {
    let started = Instant::now();
    let bar = progress(
        ids.len() as u64,
        "delivered {bar:40} {pos}/{len} {elapsed}",
        json,
    );
    let mut settled: Vec<EventDetail> = Vec::new();
    let mut open: Vec<String> = ids.to_vec();
    let mut last: Vec<EventDetail> = Vec::new();
    loop {
        last.clear();
        let mut still = Vec::new();
        for chunk in open.chunks(concurrency.max(1) as usize) {
            let got = futures_join(c, chunk).await?;
            for d in got {
                if is_settled(&d) {
                    bar.inc(1);
                    settled.push(d);
                } else {
                    still.push(d.id.clone());
                    last.push(d);
                }
            }
        }
        open = still;
        if open.is_empty() || started.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250).min(wait.saturating_sub(started.elapsed())))
            .await;
    }
    bar.finish_and_clear();
    let mut r = DeliveryReport {
        waited_secs: started.elapsed().as_secs_f64(),
        timed_out: !open.is_empty(),
        ..Default::default()
    };
    let mut e2e = Vec::new();
    for d in settled.iter().chain(last.iter()) {
        if d.routed_at.is_none() {
            r.events_unrouted += 1;
            continue;
        }
        if d.deliveries.is_empty() {
            r.events_without_delivery += 1;
        }
        for x in &d.deliveries {
            match x.status.as_str() {
                "delivered" => {
                    r.delivered += 1;
                    if let Some(at) = x.delivered_at {
                        e2e.push(
                            (at - d.received_at).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                        );
                    }
                }
                "dead" => r.dead += 1,
                _ => r.pending += 1,
            }
        }
    }
    Ok((r, Percentiles::of(e2e)))
}

/// Routed, and no delivery waiting or in flight.
fn is_settled(d: &EventDetail) -> bool {
    d.routed_at.is_some()
        && d.deliveries
            .iter()
            .all(|x| x.status == "delivered" || x.status == "dead")
}

/// The details of `ids`, fetched at once.
async fn futures_join(c: &client::Client, ids: &[String]) -> anyhow::Result<Vec<EventDetail>> {
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let (c, id) = (c.clone(), id.clone());
        set.spawn(async move {
            c.get_event(&id)
                .await
                .map_err(|e| explain(e, &format!("event {id}")))
        });
    }
    let mut out = Vec::with_capacity(ids.len());
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

fn print_report(r: &LoadReport, url: &str) {
    println!(
        "load test of {} ({}) at {url}: {} events, {} senders",
        r.integration, r.scheme, r.count, r.concurrency
    );
    println!(
        "sent       {} in {:.2} s: {:.1} events/s",
        r.count, r.send_secs, r.throughput_per_sec
    );
    let refused: Vec<String> = r
        .refused
        .iter()
        .map(|(s, n)| format!("{n} × {s}"))
        .collect();
    println!(
        "answers    {} accepted · {} refused{}",
        r.accepted,
        r.refused.values().sum::<u64>(),
        if refused.is_empty() {
            String::new()
        } else {
            format!(" ({})", refused.join(", "))
        }
    );
    if let Some(p) = &r.intake_latency_ms {
        println!("intake     {}", p.line());
    }
    match &r.deliveries {
        Some(d) => {
            println!(
                "deliveries {} delivered · {} dead · {} still pending · {} events without a destination{} (waited {:.1} s{})",
                d.delivered,
                d.dead,
                d.pending,
                d.events_without_delivery,
                if d.events_unrouted > 0 {
                    format!(" · {} not routed yet", d.events_unrouted)
                } else {
                    String::new()
                },
                d.waited_secs,
                if d.timed_out { ", timed out" } else { "" }
            );
            match &r.end_to_end_latency_ms {
                Some(p) => println!("end to end {} (received → delivered)", p.line()),
                None => println!("end to end - (nothing delivered)"),
            }
        }
        None => println!("deliveries not followed (--wait-secs 0)"),
    }
    println!("{}", if r.ok { "ok" } else { "NOT OK" });
}

#[cfg(test)]
mod tests {
    use super::Percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let p = Percentiles::of(vec![7.0]).unwrap();
        assert_eq!((p.p50, p.p99, p.max), (7.0, 7.0, 7.0));
        assert!(Percentiles::of(vec![]).is_none());
    }
}
