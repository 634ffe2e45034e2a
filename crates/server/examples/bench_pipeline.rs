//! Benchmark load generator and consumer for `bench/pipeline`: end-to-end
//! latency of the event pipeline (signed webhook in → stored → mapped → delivered to a
//! destination) and its sustained delivery rate.
//!
//! One process holds both ends:
//! - the consumer, an axum server on `--consumer` (`POST /hook`), the destination that
//!   Switchboard delivers to: it verifies each delivery's Standard Webhooks signature,
//!   de-duplicates by `webhook-id` and records end-to-end latency = arrival time − the
//!   `sent_ns` the generator put in the payload; it answers 204;
//! - the generator, which POSTs GitHub-signed webhooks (`X-Hub-Signature-256`,
//!   `X-GitHub-Event: issues`, a unique `X-GitHub-Delivery`) of about 1 KiB
//!   (`{"action", "run", "seq", "sent_ns", "pad"}`) to `POST /webhooks/{integration}/event`.
//!
//! Modes:
//! - `rate`: open loop at `--rate` events/s for `--duration` seconds (each send scheduled
//!   by the clock, never by an earlier answer; `sent_ns` is the *scheduled* time, so a
//!   generator or intake that falls behind shows as latency, not as a lower rate), then
//!   waits (at most `--wait` seconds) until every accepted event was delivered.
//! - `drain`: `--events` webhooks sent back to back by `--concurrency` connections (as
//!   fast as intake takes them), then waits until all are delivered; the delivery rate is
//!   deliveries per second between the first and the last arrival.
//!
//! Results are printed to stdout as `key=value` lines (`bench/pipeline` reads them);
//! progress goes to stderr.
//!
//! `--server` may list several servers, comma-separated (instances sharing one
//! database): event `seq` goes to server `seq % n`, so the load is spread evenly.
//!
//! Usage: `bench_pipeline rate|drain --server http://127.0.0.1:PORT[,http://…] --consumer
//! 127.0.0.1:PORT --integration gh --secret GITHUB_WEBHOOK_SECRET --dest-secret whsec_…
//! [--rate 1000] [--duration 10] [--events 20000] [--concurrency 64] [--wait 120]`

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use signatures::{Request, Scheme, SecretString, SignRequest, VerifyOptions};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What the consumer saw.
#[derive(Debug, Default)]
struct Seen {
    /// `webhook-id`s delivered (first arrival only).
    ids: HashSet<String>,
    /// End-to-end latency of each first arrival of this run's events, nanoseconds.
    latencies: Vec<u64>,
    /// Unix nanoseconds of the first and the last first-arrival.
    first: Option<u64>,
    last: Option<u64>,
    /// Arrivals of a `webhook-id` already seen (redeliveries).
    duplicates: u64,
    /// Deliveries of another run's events (left over from an earlier run).
    strays: u64,
    /// Deliveries whose signature did not verify, or whose body was not as sent.
    bad: u64,
    /// First arrivals per `seq` (to count events delivered under two webhook-ids).
    seqs: HashMap<u64, u32>,
}

#[derive(Debug)]
struct Consumer {
    run: String,
    secret: Vec<SecretString>,
    seen: Mutex<Seen>,
}

async fn hook(State(c): State<Arc<Consumer>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let arrived = unix_ns();
    // A real consumer verifies the signature; so does this one (and counts failures).
    let sig_headers = signatures::Headers::from(&headers);
    let req = Request::new("POST", "/hook", &sig_headers, &body);
    let verified = signatures::verify(
        &Scheme::StandardWebhooks,
        &req,
        &c.secret,
        &VerifyOptions::at((arrived / 1_000_000_000) as i64),
    )
    .is_ok();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parsed: Option<(String, u64, u64)> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let d = v.get("data")?;
            Some((
                d.get("run")?.as_str()?.to_owned(),
                d.get("seq")?.as_u64()?,
                d.get("sent_ns")?.as_u64()?,
            ))
        });
    let mut s = c.seen.lock().unwrap_or_else(|p| p.into_inner());
    match parsed {
        Some((run, seq, sent)) if verified && !id.is_empty() => {
            if run != c.run {
                s.strays += 1;
            } else if !s.ids.insert(id) {
                s.duplicates += 1;
            } else {
                s.latencies.push(arrived.saturating_sub(sent));
                s.first.get_or_insert(arrived);
                s.last = Some(arrived);
                *s.seqs.entry(seq).or_default() += 1;
            }
        }
        _ => s.bad += 1,
    }
    StatusCode::NO_CONTENT
}

/// The command line: `MODE --key value …`.
#[derive(Debug)]
struct Args {
    mode: String,
    /// One or more servers (`--server A,B,C`), sent to in turn.
    servers: Vec<String>,
    consumer: String,
    integration: String,
    secret: String,
    dest_secret: String,
    rate: u64,
    duration: u64,
    events: u64,
    concurrency: u64,
    wait: u64,
}

fn args() -> Result<Args, Error> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("usage: bench_pipeline rate|drain --server URL …")?;
    let mut kv = HashMap::new();
    while let Some(k) = it.next() {
        let k = k
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --option, got {k:?}"))?
            .to_owned();
        let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
        kv.insert(k, v);
    }
    let s = |k: &str| -> Result<String, Error> {
        kv.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required").into())
    };
    let n = |k: &str, d: u64| -> Result<u64, Error> {
        kv.get(k)
            .map_or(Ok(d), |v| {
                v.parse().map_err(|_| format!("--{k}: not a number"))
            })
            .map_err(Into::into)
    };
    let a = Args {
        mode,
        servers: s("server")?
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .collect(),
        consumer: s("consumer")?,
        integration: s("integration")?,
        secret: s("secret")?,
        dest_secret: s("dest-secret")?,
        rate: n("rate", 1000)?.max(1),
        duration: n("duration", 10)?.max(1),
        events: n("events", 20_000)?.max(1),
        concurrency: n("concurrency", 64)?.max(1),
        wait: n("wait", 120)?,
    };
    if a.servers.is_empty() {
        return Err("--server needs at least one URL".into());
    }
    if a.mode != "rate" && a.mode != "drain" {
        return Err(format!("unknown mode {:?}: use rate or drain", a.mode).into());
    }
    Ok(a)
}

/// Sends webhooks to the server.
#[derive(Debug)]
struct Sender {
    client: reqwest::Client,
    /// The intake URL of each server; event `seq` goes to `urls[seq % len]`.
    urls: Vec<String>,
    run: String,
    secret: Vec<SecretString>,
    pad: String,
    /// Answered 200 and not a duplicate.
    accepted: AtomicU64,
    /// Any other answer, or no answer.
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    /// Intake answer times, microseconds.
    intake_us: Mutex<Vec<u64>>,
}

impl Sender {
    async fn send(&self, seq: u64, sent_ns: u64) {
        let body = serde_json::json!({
            "action": "opened",
            "run": self.run,
            "seq": seq,
            "sent_ns": sent_ns,
            "pad": self.pad,
        })
        .to_string();
        let signed = match signatures::sign(
            &Scheme::Github,
            &self.secret,
            &SignRequest::new(body.as_bytes(), (sent_ns / 1_000_000_000) as i64),
        ) {
            Ok(s) => s,
            Err(e) => return self.fail(format!("cannot sign: {e}")),
        };
        let mut req = self
            .client
            .post(&self.urls[(seq % self.urls.len() as u64) as usize])
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("{}-{seq}", self.run));
        for (n, v) in &signed.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let started = Instant::now();
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => return self.fail(format!("request failed: {e}")),
        };
        let status = resp.status();
        let answer = resp.bytes().await.unwrap_or_default();
        self.intake_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(started.elapsed().as_micros() as u64);
        let duplicate = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("duplicate")?.as_bool());
        if status == reqwest::StatusCode::OK && duplicate == Some(false) {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.fail(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            ));
        }
    }

    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(why);
        }
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// Waits until `target` events were delivered or `wait` passed; progress every 5 s.
async fn wait_delivered(consumer: &Consumer, target: u64, wait: Duration, what: &str) -> bool {
    let deadline = Instant::now() + wait;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    loop {
        let n = consumer
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .len() as u64;
        if n >= target {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            eprintln!("{what}: gave up waiting: {n}/{target} delivered after {wait:?}");
            return false;
        }
        if now >= next_report {
            eprintln!("{what}: {n}/{target} delivered");
            next_report = now + Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn print_common(mode: &str, sender: &Sender, consumer: &Consumer) {
    let s = consumer.seen.lock().unwrap_or_else(|p| p.into_inner());
    let mut lat = s.latencies.clone();
    lat.sort_unstable();
    let mut intake = sender
        .intake_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    intake.sort_unstable();
    let twice = s.seqs.values().filter(|n| **n > 1).count();
    println!(
        "{mode}.accepted={}",
        sender.accepted.load(Ordering::Relaxed)
    );
    println!("{mode}.failed={}", sender.failed.load(Ordering::Relaxed));
    if let Some(f) = sender
        .first_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        println!("{mode}.first_failure={f}");
    }
    println!("{mode}.delivered={}", s.ids.len());
    println!("{mode}.duplicates={}", s.duplicates);
    println!("{mode}.events_delivered_under_two_ids={twice}");
    println!("{mode}.strays={}", s.strays);
    println!("{mode}.bad={}", s.bad);
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        println!("{mode}.latency_{name}_ms={}", ms(quantile(&lat, q)));
    }
    for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
        println!(
            "{mode}.intake_{name}_ms={:.3}",
            quantile(&intake, q) as f64 / 1e3
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let a = args()?;
    let run = format!("{}-{}", a.mode, unix_ns() % 1_000_000_000_000);
    let consumer = Arc::new(Consumer {
        run: run.clone(),
        secret: vec![SecretString::from(a.dest_secret.clone())],
        seen: Mutex::new(Seen::default()),
    });
    let listener = tokio::net::TcpListener::bind(&a.consumer).await?;
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(consumer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()?;
    let sender = Arc::new(Sender {
        client,
        urls: a
            .servers
            .iter()
            .map(|s| format!("{s}/webhooks/{}/event", a.integration))
            .collect(),
        run,
        secret: vec![SecretString::from(a.secret.clone())],
        // The payload is about 1 KiB in all.
        pad: "x".repeat(960),
        accepted: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_failure: Mutex::new(None),
        intake_us: Mutex::new(Vec::new()),
    });
    let wait = Duration::from_secs(a.wait);

    if a.mode == "rate" {
        let total = a.rate * a.duration;
        let period_ns = 1_000_000_000 / a.rate;
        let start = Instant::now();
        let start_unix = unix_ns();
        let mut tasks = tokio::task::JoinSet::new();
        let mut max_lag = Duration::ZERO;
        for seq in 0..total {
            let offset = Duration::from_nanos(seq * period_ns);
            let at = start + offset;
            tokio::time::sleep_until(at.into()).await;
            max_lag = max_lag.max(Instant::now().saturating_duration_since(at));
            let sender = sender.clone();
            let sent_ns = start_unix + offset.as_nanos() as u64;
            // Open loop: every send is its own task; a slow answer delays nothing else.
            tasks.spawn(async move { sender.send(seq, sent_ns).await });
            while tasks.try_join_next().is_some() {}
        }
        let offered_secs = start.elapsed().as_secs_f64();
        while tasks.join_next().await.is_some() {}
        let accepted = sender.accepted.load(Ordering::Relaxed);
        let complete = wait_delivered(&consumer, accepted, wait, "rate").await;
        // Let a redelivery, if any, show up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        println!("rate.offered_per_sec={}", a.rate);
        println!("rate.duration_secs={}", a.duration);
        println!("rate.sent={total}");
        println!(
            "rate.achieved_per_sec={:.0}",
            total as f64 / offered_secs.max(1e-9)
        );
        println!(
            "rate.generator_max_lag_ms={:.3}",
            max_lag.as_secs_f64() * 1e3
        );
        println!("rate.complete={complete}");
        // Below the offered rate, deliveries fell behind and the latency is queueing.
        let (first, last, delivered) = {
            let s = consumer.seen.lock().unwrap_or_else(|p| p.into_inner());
            (
                s.first.unwrap_or(0),
                s.last.unwrap_or(0),
                s.ids.len() as u64,
            )
        };
        let span = last.saturating_sub(first) as f64 / 1e9;
        println!(
            "rate.delivery_per_sec={:.0}",
            if delivered > 1 && span > 0.0 {
                (delivered - 1) as f64 / span
            } else {
                0.0
            }
        );
        print_common("rate", &sender, &consumer);
    } else {
        let next = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let t0_unix = unix_ns();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency {
            let sender = sender.clone();
            let next = next.clone();
            let events = a.events;
            tasks.spawn(async move {
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= events {
                        break;
                    }
                    sender.send(seq, unix_ns()).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let intake_secs = t0.elapsed().as_secs_f64();
        let intake_done_unix = unix_ns();
        let at_intake_end = consumer
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .len() as u64;
        let accepted = sender.accepted.load(Ordering::Relaxed);
        let complete = wait_delivered(&consumer, accepted, wait, "drain").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (first, last, delivered) = {
            let s = consumer.seen.lock().unwrap_or_else(|p| p.into_inner());
            (
                s.first.unwrap_or(t0_unix),
                s.last.unwrap_or(t0_unix),
                s.ids.len() as u64,
            )
        };
        let span = (last.saturating_sub(first)) as f64 / 1e9;
        let rate = if delivered > 1 && span > 0.0 {
            (delivered - 1) as f64 / span
        } else {
            0.0
        };
        let after = last.saturating_sub(intake_done_unix) as f64 / 1e9;
        println!("drain.events={}", a.events);
        println!("drain.concurrency={}", a.concurrency);
        println!("drain.intake_secs={intake_secs:.3}");
        println!(
            "drain.intake_per_sec={:.0}",
            a.events as f64 / intake_secs.max(1e-9)
        );
        println!("drain.delivered_at_intake_end={at_intake_end}");
        println!("drain.delivery_span_secs={span:.3}");
        println!("drain.delivery_per_sec={rate:.0}");
        println!(
            "drain.all_delivered_after_secs={:.3}",
            last.saturating_sub(t0_unix) as f64 / 1e9
        );
        // The backlog left when intake stopped, and how fast it went.
        let backlog = delivered.saturating_sub(at_intake_end);
        println!("drain.backlog_at_intake_end={backlog}");
        println!(
            "drain.backlog_per_sec={:.0}",
            if after > 0.0 {
                backlog as f64 / after
            } else {
                0.0
            }
        );
        println!("drain.complete={complete}");
        print_common("drain", &sender, &consumer);
    }
    Ok(())
}
