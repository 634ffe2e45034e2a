//! The delivery worker in detail: `v1a` Ed25519 signatures checked with an independent
//! Ed25519 implementation (aws-lc-rs) and with our verifier, per-destination rate limits
//! on a manual clock, `Retry-After` dates, the circuit breaker, lease renewal and lost
//! leases, 410, dead deliveries, refused connections, timeouts and shutdown with a
//! request in flight. Single deliveries are driven directly (claim, then
//! `deliver_one`) so each outcome is deterministic; the worker loop is run where its
//! scheduling is the point.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use store::{Claimed, DeliveryStatus, DeliveryStore, EventStore};
use vault::SecretString;

use super::pipeline::{WHSEC, deliveries, stripe_event, wait_for};
use super::*;
use crate::ManualClock;
use crate::pipeline::deliver::{Block, Gate, Outcome, WorkerOptions, parse_retry_after};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One request the consumer received.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

/// A local destination whose answers the test scripts.
#[derive(Clone, Default)]
struct Consumer {
    status: Arc<AtomicU16>,
    retry_after: Arc<Mutex<Option<String>>>,
    /// While set, requests wait until it is notified (or dropped).
    hold: Arc<Mutex<Option<Arc<tokio::sync::Semaphore>>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    in_flight: Arc<AtomicU32>,
    max_in_flight: Arc<AtomicU32>,
    /// Each request takes at least this long.
    delay: Arc<Mutex<Duration>>,
}

async fn consume(State(c): State<Consumer>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    c.max_in_flight.fetch_max(now, Ordering::SeqCst);
    c.seen.lock().unwrap().push(Seen { headers, body });
    let hold = c.hold.lock().unwrap().clone();
    if let Some(h) = hold {
        let _ = h.acquire().await;
    }
    let delay = *c.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    c.in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(c.status.load(Ordering::SeqCst)).unwrap();
    let mut h = HeaderMap::new();
    if let Some(r) = c.retry_after.lock().unwrap().clone() {
        h.insert("retry-after", r.parse().unwrap());
    }
    (status, h)
}

impl Consumer {
    async fn start(status: u16) -> (Self, String) {
        let c = Consumer::default();
        c.status.store(status, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(consume))
            .with_state(c.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (c, format!("http://{addr}/hooks"))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Makes requests wait until [`Consumer::release`].
    fn hold(&self) -> Arc<tokio::sync::Semaphore> {
        let s = Arc::new(tokio::sync::Semaphore::new(0));
        *self.hold.lock().unwrap() = Some(s.clone());
        s
    }

    fn release(&self, s: &tokio::sync::Semaphore) {
        *self.hold.lock().unwrap() = None;
        s.add_permits(1000);
    }
}

/// An Ed25519 key pair made by aws-lc-rs: the `whsk_` secret key and the raw public key.
fn ed25519_pair() -> (String, Vec<u8>) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    (
        format!("whsk_{}", B64.encode(seed)),
        pair.public_key().as_ref().to_vec(),
    )
}

/// A config with one integration and the destination `app` at `url`, signed with the
/// `APP_SECRET` (`whsec_`) and/or `APP_SIGNING_KEY` (`whsk_`) variables as `keys` says.
fn config_with(url: &str, keys: &str, extra: &str, signing_key: &str) -> config::Config {
    let text = format!(
        "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[destinations]]\nid = \"app\"\nurl = \"{url}\"\n{keys}\n{extra}\n"
    );
    let env = BTreeMap::from([
        ("APP_SECRET".to_owned(), WHSEC.to_owned()),
        ("APP_SIGNING_KEY".to_owned(), signing_key.to_owned()),
    ]);
    config::Config::from_toml(&text, "t.toml", &env, &Default::default()).unwrap()
}

const SECRET: &str = "secret = \"env:APP_SECRET\"";

async fn engine_on_cfg(cfg: config::Config, dev: bool) -> (Engine, SqliteStore) {
    let store = memory_store().await;
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg).with_dev(dev);
    (engine, store)
}

/// An engine on a manual clock (in development mode), its store and its clock.
async fn engine_on_manual_clock(cfg: config::Config) -> (Engine, SqliteStore, ManualClock) {
    let (engine, store) = engine_on_cfg(cfg, true).await;
    let clock = ManualClock::new();
    (engine.with_clock(clock.clone()), store, clock)
}

/// Waits until the worker is the only thing asleep on `clock` (no request in flight:
/// each renews its lease on the clock) and the deliveries satisfy `ok`: from then on
/// only the clock can move the worker on.
async fn worker_idle(
    clock: &ManualClock,
    store: &SqliteStore,
    ok: impl Fn(&[store::Delivery]) -> bool,
) {
    wait_for("the worker to go idle", async || {
        clock.sleeping() == 1 && ok(&deliveries(store, None).await)
    })
    .await;
}

/// Stores `n` events and routes them; returns their ids.
async fn enqueue(engine: &Engine, store: &SqliteStore, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let e = stripe_event(1000 + i, 1);
        store.insert_event(&e).await.unwrap();
        ids.push(e.id);
    }
    engine.route_pending().await.unwrap();
    ids
}

/// Claims every due delivery as worker `owner`, with a lease of `lease` from now.
async fn claim(store: &SqliteStore, owner: &str, lease: Duration) -> Vec<Claimed> {
    let now = store::now();
    store
        .claim_deliveries(
            owner,
            100,
            now,
            now + chrono::Duration::from_std(lease).unwrap(),
            &[],
        )
        .await
        .unwrap()
}

fn dest(engine: &Engine) -> config::Destination {
    engine.config().destinations[0].clone()
}

fn header(s: &Seen, name: &str) -> String {
    s.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Verifies a received request with our Standard Webhooks verifier and `keys`.
fn our_verify(s: &Seen, keys: &[&str]) -> Result<(), signatures::VerifyError> {
    let mut sh = signatures::Headers::new();
    for n in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        sh.append(n, header(s, n));
    }
    let req = signatures::Request::new("POST", "http://consumer/hooks", &sh, &s.body);
    let secrets: Vec<SecretString> = keys
        .iter()
        .map(|k| SecretString::from((*k).to_owned()))
        .collect();
    signatures::verify(
        &signatures::Scheme::StandardWebhooks,
        &req,
        &secrets,
        &signatures::VerifyOptions::at(chrono::Utc::now().timestamp()),
    )
    .map(|_| ())
}

// ---------------------------------------------------------------------------------------
// v1a

#[tokio::test]
async fn v1a_signatures_verify_with_an_independent_ed25519_and_with_our_verifier() {
    let (consumer, url) = Consumer::start(204).await;
    let (whsk, public) = ed25519_pair();
    let whpk = format!("whpk_{}", B64.encode(&public));
    let cfg = config_with(
        &url,
        &format!("{SECRET}\nsigning_key = \"env:APP_SIGNING_KEY\""),
        "",
        &whsk,
    );
    assert_eq!(
        cfg.destinations[0].public_key().as_deref(),
        Some(whpk.as_str())
    );
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    let outcome = engine
        .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
        .await;
    assert_eq!(outcome, Outcome::Delivered);
    let s = &consumer.seen()[0];

    // Both signatures, v1 first, space-separated.
    let sig = header(s, "webhook-signature");
    let tokens: Vec<&str> = sig.split(' ').collect();
    assert_eq!(tokens.len(), 2, "{sig}");
    assert!(tokens[0].starts_with("v1,"), "{sig}");
    let v1a = tokens[1].strip_prefix("v1a,").expect("a v1a signature");

    // aws-lc-rs checks the Ed25519 signature of `{id}.{timestamp}.{body}`.
    let id = header(s, "webhook-id");
    assert_eq!(id, c.id);
    let msg = [
        id.as_bytes(),
        b".",
        header(s, "webhook-timestamp").as_bytes(),
        b".",
        &s.body,
    ]
    .concat();
    let raw = B64.decode(v1a).unwrap();
    assert_eq!(raw.len(), 64);
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(&msg, &raw)
        .expect("the v1a signature verifies with the public key");
    let mut tampered = msg.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(
        UnparsedPublicKey::new(&ED25519, &public)
            .verify(&tampered, &raw)
            .is_err()
    );

    // Our verifier: the public key alone, the shared secret alone.
    our_verify(s, &[&whpk]).expect("v1a with whpk_");
    our_verify(s, &[WHSEC]).expect("v1 with whsec_");
    let (_, other) = ed25519_pair();
    let other = format!("whpk_{}", B64.encode(other));
    assert!(
        our_verify(s, &[&other]).is_err(),
        "another key does not verify"
    );
}

#[tokio::test]
async fn a_signing_key_alone_sends_only_v1a() {
    let (consumer, url) = Consumer::start(200).await;
    let (whsk, public) = ed25519_pair();
    let cfg = config_with(&url, "signing_key = \"env:APP_SIGNING_KEY\"", "", &whsk);
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    assert_eq!(
        engine
            .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
            .await,
        Outcome::Delivered
    );
    let s = &consumer.seen()[0];
    let sig = header(s, "webhook-signature");
    assert!(sig.starts_with("v1a,") && !sig.contains(' '), "{sig}");
    our_verify(s, &[&format!("whpk_{}", B64.encode(public))]).unwrap();
    assert!(
        matches!(
            our_verify(s, &[WHSEC]),
            Err(signatures::VerifyError::NoKeyForVersion { .. })
        ),
        "a whsec_ secret cannot check a v1a-only request"
    );
}

// ---------------------------------------------------------------------------------------
// rate limit

fn limited(per_second: u32, burst: u32, max_concurrency: u32) -> config::Destination {
    let text = format!(
        "[[destinations]]\nid = \"app\"\nurl = \"http://127.0.0.1:1/h\"\nsecret = \"{WHSEC}\"\n\
         max_concurrency = {max_concurrency}\nrate_limit = {{ per_second = {per_second}, burst = {burst} }}\n"
    );
    config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default())
        .unwrap()
        .destinations
        .remove(0)
}

#[test]
fn the_rate_limit_admits_a_burst_then_one_per_interval_on_its_clock() {
    let clock = ManualClock::new();
    let mut gate = Gate::new(&WorkerOptions::default(), Default::default());
    let d = limited(4, 2, 100);
    let t0 = clock.instant();
    assert_eq!(gate.room(&d, t0), 2, "a burst of 2 at most");
    assert_eq!(gate.admit(&d, t0), Ok(()));
    assert_eq!(gate.admit(&d, t0), Ok(()));
    // The bucket is empty: the next token comes 250 ms later.
    let at = gate.admit(&d, t0).unwrap_err();
    assert_eq!(at - t0, Duration::from_millis(250));
    assert_eq!(gate.blocked(&d, t0), Some(Block::Until(at)));
    assert_eq!(gate.room(&d, t0), 0);
    // A millisecond early it is still empty.
    clock.advance(Duration::from_millis(249));
    assert!(gate.admit(&d, clock.instant()).is_err());
    clock.advance(Duration::from_millis(1));
    let t1 = clock.instant();
    assert_eq!(t1, at);
    assert_eq!(gate.room(&d, t1), 1, "throttled: one per token");
    assert_eq!(gate.admit(&d, t1), Ok(()));
    assert_eq!(
        gate.blocked(&d, t1),
        Some(Block::Until(t1 + Duration::from_millis(250))),
        "the next token is predicted one interval later"
    );
    assert!(gate.admit(&d, t1).is_err());
    // Over a clock second at most burst + rate requests were admitted: count them.
    let clock = ManualClock::new();
    let mut gate = Gate::new(&WorkerOptions::default(), Default::default());
    let mut admitted_per_window = Vec::new();
    for _window in 0..5 {
        let mut n = 0;
        for _tick in 0..10 {
            // 100 ms ticks, trying far more often than the limit allows.
            for _ in 0..10 {
                if gate.admit(&d, clock.instant()).is_ok() {
                    n += 1;
                }
            }
            clock.advance(Duration::from_millis(100));
        }
        admitted_per_window.push(n);
    }
    assert!(admitted_per_window[0] <= 2 + 4, "{admitted_per_window:?}");
    assert!(
        admitted_per_window[1..].iter().all(|n| *n == 4),
        "exactly the rate once throttled: {admitted_per_window:?}"
    );
    // A changed limit takes effect with a fresh bucket.
    let faster = limited(100, 10, 100);
    assert_eq!(gate.admit(&faster, clock.instant()), Ok(()));
    // A destination without a limit is never throttled.
    let mut free = d.clone();
    free.rate_limit = None;
    for _ in 0..1000 {
        assert_eq!(gate.admit(&free, clock.instant()), Ok(()));
    }
    gate.claimed("app", 4, 0);
    assert_eq!(
        gate.room(&faster, clock.instant() + Duration::from_secs(1)),
        10
    );
}

#[tokio::test]
async fn deliveries_to_a_rate_limited_destination_wait_for_tokens_without_leases() {
    let (consumer, url) = Consumer::start(200).await;
    let cfg = config_with(
        &url,
        SECRET,
        "rate_limit = { per_second = 2, burst = 2 }\nmax_concurrency = 50",
        "",
    );
    let (engine, store, clock) = engine_on_manual_clock(cfg).await;
    enqueue(&engine, &store, 7).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let opts = WorkerOptions {
        owner: "w".into(),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(opts, async {
            let _ = rx.await;
        })
        .await;
    });
    // Clock time t = 0: the burst of 2, and not one more while the clock stands still;
    // then one per 500 ms step (2 per second).
    for step in 0..5 {
        let admitted = 2 + step;
        wait_for("the admitted deliveries", async || {
            deliveries(&store, Some(DeliveryStatus::Delivered))
                .await
                .len()
                >= admitted
        })
        .await;
        assert_eq!(
            deliveries(&store, Some(DeliveryStatus::Delivered))
                .await
                .len(),
            admitted,
            "step {step}"
        );
        // The worker is idle: nothing in flight, the rest waiting for tokens.
        worker_idle(&clock, &store, |all| {
            all.iter().all(|d| d.status != DeliveryStatus::InFlight)
        })
        .await;
        assert_eq!(
            consumer.seen().len(),
            admitted,
            "step {step}: never more than burst + rate x elapsed clock time"
        );
        // The waiting ones hold no lease and have used no attempt.
        let waiting: Vec<_> = deliveries(&store, None)
            .await
            .into_iter()
            .filter(|d| d.status != DeliveryStatus::Delivered)
            .collect();
        assert_eq!(waiting.len(), 7 - admitted);
        assert!(
            waiting.iter().all(|d| d.status == DeliveryStatus::Pending
                && d.attempts == 0
                && d.lease_owner.is_none()),
            "{waiting:?}"
        );
        // Half a clock second: one more token (the worker's idle sleep ends with it).
        clock.advance(Duration::from_millis(500));
    }
    wait_for("the last one", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 7
    })
    .await;
    assert_eq!(consumer.seen().len(), 7, "each sent once");
    assert!(
        deliveries(&store, None)
            .await
            .iter()
            .all(|d| d.attempts == 1),
        "waiting used no attempt"
    );
    drop(tx);
    worker.await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Retry-After

#[test]
fn retry_after_is_seconds_or_an_http_date() {
    let now = chrono::DateTime::parse_from_rfc3339("1994-11-06T08:49:00Z")
        .unwrap()
        .to_utc();
    let p = |v: &str| parse_retry_after(v, now);
    assert_eq!(p("120"), Some(Duration::from_secs(120)));
    assert_eq!(p(" 0 "), Some(Duration::ZERO));
    let year = Duration::from_secs(86_400 * 365);
    assert_eq!(p("99999999999999999999999"), Some(year));
    assert_eq!(p("99999999999"), Some(year));
    // IMF-fixdate, RFC 850 and asctime: 37 s after now.
    for v in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(p(v), Some(Duration::from_secs(37)), "{v}");
    }
    assert_eq!(
        p("Sun, 06 Nov 1994 08:00:00 GMT"),
        Some(Duration::ZERO),
        "a past date is no delay"
    );
    for v in ["", "-5", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT"] {
        assert_eq!(p(v), None, "{v:?}");
    }
}

#[tokio::test]
async fn a_retry_after_date_schedules_the_retry_and_is_capped() {
    let (consumer, url) = Consumer::start(503).await;
    let cfg = config_with(
        &url,
        SECRET,
        "retry_schedule_secs = [0, 1]\nmax_attempts = 10",
        "",
    );
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 1).await;
    let d = dest(&engine);
    let date = |secs: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(secs))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    };
    // (Retry-After, shortest and longest delay in ms; the schedule says 0.8 to 1.2 s)
    for (retry_after, lo, hi) in [
        (Some(date(7200)), 7_199_000, 7_200_000),
        (Some(date(3 * 86_400)), 86_400_000, 86_400_000),
        (Some(date(-3600)), 800, 1200),
        (Some("600".to_owned()), 600_000, 600_000),
        (Some("soon".to_owned()), 800, 1200),
        (None, 800, 1200),
    ] {
        *consumer.retry_after.lock().unwrap() = retry_after.clone();
        // Claim it as if its next attempt had come.
        let now = store::now() + chrono::Duration::days(2);
        let c = store
            .claim_deliveries("t", 1, now, now + chrono::Duration::minutes(1), &[])
            .await
            .unwrap()
            .remove(0);
        let before = store::now();
        assert_eq!(
            engine.deliver_one(&c, &d, Duration::from_secs(30)).await,
            Outcome::Failed
        );
        let after = store::now();
        let row = store.get_delivery(&c.id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.last_status),
            (DeliveryStatus::Pending, Some(503))
        );
        let lo = before + chrono::Duration::milliseconds(lo - 1);
        let hi = after + chrono::Duration::milliseconds(hi + 1);
        assert!(
            row.next_attempt_at >= lo && row.next_attempt_at <= hi,
            "{retry_after:?}: {} not in {lo}..{hi}",
            row.next_attempt_at
        );
    }
    assert_eq!(consumer.seen().len(), 6);
}

// ---------------------------------------------------------------------------------------
// breaker

#[test]
fn the_breaker_opens_half_opens_doubles_and_closes() {
    let opts = WorkerOptions {
        breaker_threshold: 2,
        breaker_cooldown: Duration::from_secs(10),
        breaker_max_cooldown: Duration::from_secs(25),
        ..Default::default()
    };
    let clock = ManualClock::new();
    let mut gate = Gate::new(&opts, Default::default());
    let mut d = limited(1000, 1000, 4);
    d.rate_limit = None;
    let t0 = clock.instant();
    assert_eq!(gate.blocked(&d, t0), None);
    assert_eq!(gate.room(&d, t0), 4);
    assert!(gate.try_start(&d, t0));
    gate.finish("app", Outcome::Failed, t0);
    assert_eq!(gate.blocked(&d, t0), None, "one failure keeps it closed");
    assert!(gate.try_start(&d, t0));
    gate.finish("app", Outcome::Neutral, t0);
    assert_eq!(gate.blocked(&d, t0), None, "a lost lease is not a failure");
    assert!(gate.try_start(&d, t0));
    gate.finish("app", Outcome::Failed, t0);
    let open = t0 + Duration::from_secs(10);
    assert_eq!(gate.blocked(&d, t0), Some(Block::Until(open)), "open");
    assert_eq!(gate.room(&d, t0), 0);
    assert!(!gate.try_start(&d, t0));
    // Half-open: one trial at a time.
    assert_eq!(gate.blocked(&d, open), None);
    assert_eq!(gate.room(&d, open), 1);
    assert!(gate.try_start(&d, open));
    assert_eq!(gate.blocked(&d, open), Some(Block::Full));
    assert!(!gate.try_start(&d, open));
    // The trial fails: open again for twice as long, then capped.
    gate.finish("app", Outcome::Failed, open);
    let again = open + Duration::from_secs(20);
    assert_eq!(gate.blocked(&d, open), Some(Block::Until(again)));
    assert!(gate.try_start(&d, again));
    gate.finish("app", Outcome::Failed, again);
    assert_eq!(
        gate.blocked(&d, again),
        Some(Block::Until(again + Duration::from_secs(25)))
    );
    // A trial that succeeds closes it.
    let later = again + Duration::from_secs(25);
    assert!(gate.try_start(&d, later));
    gate.finish("app", Outcome::Delivered, later);
    assert_eq!(gate.blocked(&d, later), None);
    assert_eq!(gate.room(&d, later), 4);
    // max_concurrency.
    for _ in 0..4 {
        assert!(gate.try_start(&d, later));
    }
    assert_eq!(gate.blocked(&d, later), Some(Block::Full));
}

#[tokio::test]
async fn an_open_breaker_stops_requests_until_its_trial_succeeds() {
    let (consumer, url) = Consumer::start(500).await;
    let cfg = config_with(
        &url,
        SECRET,
        "retry_schedule_secs = [0]\nmax_attempts = 100",
        "",
    );
    let (engine, store, clock) = engine_on_manual_clock(cfg).await;
    enqueue(&engine, &store, 3).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let opts = WorkerOptions {
        owner: "w".into(),
        // Longer than the test: the worker's idle sleep ends when the circuit reopens.
        poll_interval: Duration::from_secs(3600),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(2),
        concurrency: 1,
        ..Default::default()
    };
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(opts, async {
            let _ = rx.await;
        })
        .await;
    });
    // The retry schedule is [0]: every failed delivery is due again at once, so only
    // the open circuit keeps the worker from sending.
    let three_failures = |all: &[store::Delivery]| {
        all.iter().all(|d| d.status == DeliveryStatus::Pending)
            && all.iter().map(|d| d.attempts).sum::<u32>() == 3
    };
    worker_idle(&clock, &store, three_failures).await;
    assert_eq!(
        consumer.seen().len(),
        3,
        "the circuit opened after three failures"
    );
    // The cool-down but its last millisecond: the worker sleeps on. (The real pause
    // only gives a broken worker the chance to send; nothing depends on its length.)
    let sleeps = clock.sleeps_started();
    clock.advance(Duration::from_millis(1999));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(clock.sleeps_started(), sleeps, "the worker still sleeps");
    assert!(!worker.is_finished());
    assert_eq!(
        consumer.seen().len(),
        3,
        "no request while the circuit is open"
    );
    assert!(three_failures(&deliveries(&store, None).await));
    // The cool-down is over: the trial succeeds and closes the circuit.
    consumer.status.store(200, Ordering::SeqCst);
    clock.advance(Duration::from_millis(1));
    wait_for("everything delivered after the trial", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 3
    })
    .await;
    assert_eq!(consumer.seen().len(), 6);
    drop(tx);
    worker.await.unwrap();
}

// ---------------------------------------------------------------------------------------
// leases

#[tokio::test]
async fn the_lease_is_renewed_while_a_slow_request_runs() {
    let (consumer, url) = Consumer::start(200).await;
    // Lease = 3 s timeout + no margin, renewed every second.
    let cfg = config_with(&url, SECRET, "timeout_secs = 3", "");
    let (engine, store, clock) = engine_on_manual_clock(cfg).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(1)).await.remove(0);
    let hold = consumer.hold();
    let (e, c2, d) = (engine.clone(), c.clone(), dest(&engine));
    let task = tokio::spawn(async move { e.deliver_one(&c2, &d, Duration::ZERO).await });
    wait_for("the request", async || consumer.seen().len() == 1).await;
    let lease_until = async || {
        store
            .get_delivery(&c.id)
            .await
            .unwrap()
            .unwrap()
            .lease_until
    };
    // Two renewals, a clock second apart, each for the whole lease from then.
    for _ in 0..2 {
        clock.until_sleeping(1).await;
        let n = clock.sleeps_started();
        clock.advance(Duration::from_secs(1));
        clock.until_sleeps_started(n + 1).await;
        assert_eq!(
            lease_until().await,
            Some(clock.now() + chrono::Duration::seconds(3))
        );
    }
    assert_eq!(consumer.seen().len(), 1, "renewed while the request waits");
    consumer.release(&hold);
    assert_eq!(task.await.unwrap(), Outcome::Delivered);
    let row = store.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(row.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_renewal_that_finds_the_lease_taken_over_abandons_the_request() {
    let (consumer, url) = Consumer::start(200).await;
    let cfg = config_with(&url, SECRET, "timeout_secs = 5", "");
    let (engine, store, clock) = engine_on_manual_clock(cfg).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    let hold = consumer.hold();
    let (e, c2, d) = (engine.clone(), c.clone(), dest(&engine));
    // Lease 5 s + 0: renewed every 1.67 s.
    let task = tokio::spawn(async move { e.deliver_one(&c2, &d, Duration::ZERO).await });
    wait_for("the request", async || consumer.seen().len() == 1).await;
    clock.until_sleeping(1).await;
    // Another worker takes it over (as if the lease had lapsed).
    let later = store::now() + chrono::Duration::hours(1);
    let taken = store
        .claim_deliveries(
            "other",
            10,
            later,
            later + chrono::Duration::minutes(5),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(
        !task.is_finished(),
        "the request goes on until the next renewal"
    );
    clock.advance(Duration::from_millis(1667));
    let outcome = task.await.unwrap();
    assert_eq!(outcome, Outcome::Neutral, "lost_lease");
    consumer.release(&hold);
    let row = store.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(row.status, DeliveryStatus::InFlight);
    assert_eq!(row.lease_owner.as_deref(), Some("other"));
    assert_eq!((row.attempts, row.last_status), (2, None));
}

#[tokio::test]
async fn an_outcome_after_a_takeover_is_not_written() {
    for status in [200u16, 500] {
        let (consumer, url) = Consumer::start(status).await;
        let cfg = config_with(&url, SECRET, "", "");
        let (engine, store) = engine_on_cfg(cfg, true).await;
        enqueue(&engine, &store, 1).await;
        let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
        let hold = consumer.hold();
        let (e, c2, d) = (engine.clone(), c.clone(), dest(&engine));
        let task =
            tokio::spawn(async move { e.deliver_one(&c2, &d, Duration::from_secs(30)).await });
        wait_for("the request", async || consumer.seen().len() == 1).await;
        let later = store::now() + chrono::Duration::hours(1);
        store
            .claim_deliveries(
                "other",
                10,
                later,
                later + chrono::Duration::minutes(5),
                &[],
            )
            .await
            .unwrap();
        consumer.release(&hold);
        assert_eq!(task.await.unwrap(), Outcome::Neutral, "{status}");
        let row = store.get_delivery(&c.id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.lease_owner.as_deref(), row.last_status),
            (DeliveryStatus::InFlight, Some("other"), None),
            "{status}: nothing written"
        );
        assert!(row.delivered_at.is_none());
    }
}

// ---------------------------------------------------------------------------------------
// failures

#[tokio::test]
async fn gone_disables_once_and_the_last_attempt_is_dead() {
    let (consumer, url) = Consumer::start(410).await;
    let cfg = config_with(
        &url,
        SECRET,
        "retry_schedule_secs = [0]\nmax_attempts = 2",
        "",
    );
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 2).await;
    let d = dest(&engine);
    for c in claim(&store, "t", Duration::from_secs(60)).await {
        assert_eq!(
            engine.deliver_one(&c, &d, Duration::from_secs(30)).await,
            Outcome::Failed
        );
    }
    assert_eq!(consumer.seen().len(), 2);
    assert_eq!(
        store.disabled_destinations().await.unwrap(),
        [("app".to_owned(), Some("answered 410 Gone".to_owned()))]
    );
    let audit = engine.inner.store.list_audit_desc(None, 10).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.entry.action == "destination.disable")
            .count(),
        1,
        "audited once"
    );
    for row in deliveries(&store, None).await {
        assert_eq!(
            (row.status, row.last_status, row.last_error.as_deref()),
            (
                DeliveryStatus::Pending,
                Some(410),
                Some("HTTP 410 Gone: destination disabled")
            )
        );
    }
    // Enabled again, the second attempt is the last: dead.
    store
        .set_destination_disabled("app", false, None, store::now())
        .await
        .unwrap();
    consumer.status.store(500, Ordering::SeqCst);
    let later = store::now() + chrono::Duration::minutes(1);
    let again = store
        .claim_deliveries("t", 10, later, later + chrono::Duration::minutes(1), &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    for c in again {
        assert_eq!(c.attempts, 2);
        engine.deliver_one(&c, &d, Duration::from_secs(30)).await;
    }
    let dead = deliveries(&store, Some(DeliveryStatus::Dead)).await;
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|r| r.last_status == Some(500)));
}

#[tokio::test]
async fn refused_connections_timeouts_and_guarded_urls_are_failed_attempts() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config_with(&format!("http://127.0.0.1:{port}/h"), SECRET, "", "");
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    assert_eq!(
        engine
            .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
            .await,
        Outcome::Failed
    );
    let row = store.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.last_status),
        (DeliveryStatus::Pending, None)
    );
    let err = row.last_error.unwrap();
    assert!(!err.is_empty() && !err.contains(WHSEC), "{err}");

    // A destination slower than its timeout.
    let (consumer, url) = Consumer::start(200).await;
    let cfg = config_with(&url, SECRET, "timeout_secs = 1", "");
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 1).await;
    let hold = consumer.hold();
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    assert_eq!(
        engine
            .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
            .await,
        Outcome::Failed
    );
    consumer.release(&hold);
    let row = store.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(row.last_status, None);
    assert!(
        row.last_error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        row.last_error
    );

    // Without --dev a loopback destination is refused by the outbound guard, unsent.
    let (consumer, url) = Consumer::start(200).await;
    let (engine, store) = engine_on_cfg(config_with(&url, SECRET, "", ""), false).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    assert_eq!(
        engine
            .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
            .await,
        Outcome::Failed
    );
    assert!(consumer.seen().is_empty());
    let row = store.get_delivery(&c.id).await.unwrap().unwrap();
    assert!(row.last_error.is_some());
}

#[tokio::test]
async fn a_destination_removed_from_the_config_makes_its_deliveries_dead() {
    let (_consumer, url) = Consumer::start(200).await;
    let (engine, store) = engine_on_cfg(config_with(&url, SECRET, "", ""), true).await;
    enqueue(&engine, &store, 1).await;
    let text = "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n";
    let without =
        config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    engine
        .reload_config(without, &crate::Actor::System)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(
            WorkerOptions {
                poll_interval: Duration::from_millis(50),
                ..Default::default()
            },
            async {
                let _ = rx.await;
            },
        )
        .await;
    });
    wait_for("the delivery dead", async || {
        deliveries(&store, Some(DeliveryStatus::Dead)).await.len() == 1
    })
    .await;
    let row = &deliveries(&store, None).await[0];
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("no longer configured"),
        "{row:?}"
    );
    drop(tx);
    worker.await.unwrap();
}

// ---------------------------------------------------------------------------------------
// the worker loop

#[tokio::test]
async fn max_concurrency_caps_requests_in_flight() {
    let (consumer, url) = Consumer::start(200).await;
    *consumer.delay.lock().unwrap() = Duration::from_millis(50);
    let (engine, store) =
        engine_on_cfg(config_with(&url, SECRET, "max_concurrency = 2", ""), true).await;
    enqueue(&engine, &store, 8).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(
            WorkerOptions {
                poll_interval: Duration::from_millis(50),
                ..Default::default()
            },
            async {
                let _ = rx.await;
            },
        )
        .await;
    });
    wait_for("all delivered", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 8
    })
    .await;
    assert!(consumer.max_in_flight.load(Ordering::SeqCst) <= 2);
    assert_eq!(consumer.seen().len(), 8);
    // Released claims gave their attempt back.
    assert!(
        deliveries(&store, None)
            .await
            .iter()
            .all(|d| d.attempts == 1)
    );
    drop(tx);
    worker.await.unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_the_request_in_flight() {
    let (consumer, url) = Consumer::start(200).await;
    let (engine, store) = engine_on_cfg(config_with(&url, SECRET, "", ""), true).await;
    enqueue(&engine, &store, 1).await;
    let hold = consumer.hold();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(WorkerOptions::default(), async {
            let _ = rx.await;
        })
        .await;
    });
    wait_for("the request", async || consumer.seen().len() == 1).await;
    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!worker.is_finished(), "the worker waits for its request");
    consumer.release(&hold);
    worker.await.unwrap();
    let row = &deliveries(&store, None).await[0];
    assert_eq!(row.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn limited_and_unlimited_destinations_share_one_worker() {
    let (consumer, url) = Consumer::start(200).await;
    let text = format!(
        "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[destinations]]\nid = \"app\"\nurl = \"{url}\"\nsecret = \"{WHSEC}\"\n\
         [[destinations]]\nid = \"limited\"\nurl = \"{url}\"\nsecret = \"{WHSEC}\"\n\
         rate_limit = {{ per_second = 1000 }}\n"
    );
    let cfg =
        config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let (engine, store) = engine_on_cfg(cfg, true).await;
    enqueue(&engine, &store, 4).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    // One slot: the unlimited claim can take it all, leaving none for the limited one.
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(
            WorkerOptions {
                concurrency: 1,
                poll_interval: Duration::from_millis(50),
                ..Default::default()
            },
            async {
                let _ = rx.await;
            },
        )
        .await;
    });
    wait_for("every delivery to both", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 8
    })
    .await;
    assert_eq!(consumer.seen().len(), 8);
    assert_eq!(consumer.max_in_flight.load(Ordering::SeqCst), 1);
    drop(tx);
    worker.await.unwrap();
}

#[tokio::test]
async fn store_failures_are_logged_and_never_panic() {
    // The worker on a store that fails every call keeps polling until shutdown.
    let (engine, store, clock) =
        engine_on_manual_clock(config_with("http://127.0.0.1:9/h", SECRET, "", "")).await;
    store.close().await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let worker = tokio::spawn(async move {
        e.run_delivery_worker(
            WorkerOptions {
                poll_interval: Duration::from_millis(20),
                ..Default::default()
            },
            async {
                let _ = rx.await;
            },
        )
        .await;
    });
    // Three polls, each failing: the worker sleeps again after every one.
    for _ in 0..3 {
        let n = clock.sleeps_started();
        clock.until_sleeping(1).await;
        clock.advance(Duration::from_millis(20));
        clock.until_sleeps_started(n + 1).await;
        assert!(!worker.is_finished());
    }
    tx.send(()).unwrap();
    worker.await.unwrap();

    // A store that fails while a request runs: renewals and the outcome cannot be
    // written; the attempt is left to its lease (a later claim retries it).
    let (consumer, url) = Consumer::start(200).await;
    let (engine, store, clock) =
        engine_on_manual_clock(config_with(&url, SECRET, "timeout_secs = 2", "")).await;
    enqueue(&engine, &store, 1).await;
    let c = claim(&store, "t", Duration::from_secs(60)).await.remove(0);
    let hold = consumer.hold();
    let (e, d) = (engine.clone(), dest(&engine));
    // Lease 2 s: renewed every 667 ms.
    let task = tokio::spawn(async move { e.deliver_one(&c, &d, Duration::ZERO).await });
    wait_for("the request", async || consumer.seen().len() == 1).await;
    clock.until_sleeping(1).await;
    store.close().await;
    // A renewal comes due and fails; the request goes on and the next renewal waits.
    let n = clock.sleeps_started();
    clock.advance(Duration::from_millis(667));
    clock.until_sleeps_started(n + 1).await;
    assert!(!task.is_finished());
    consumer.release(&hold);
    assert_eq!(task.await.unwrap(), Outcome::Neutral);
}

/// A destination that answers from a script: each request moves the manual clock on by
/// the step's time (so the attempt's duration is known exactly), then answers its status
/// and body.
async fn scripted_consumer(clock: ManualClock, script: Vec<(u64, u16, &'static str)>) -> String {
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let (ms, status, body) = script.lock().unwrap().pop_front().unwrap();
            clock.advance(Duration::from_millis(ms));
            async move { (StatusCode::from_u16(status).unwrap(), body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/hooks")
}

#[tokio::test]
async fn two_failed_attempts_and_a_success_are_three_recorded_attempts() {
    let clock = ManualClock::new();
    let url = scripted_consumer(
        clock.clone(),
        vec![
            (
                250,
                503,
                "busy; retry later. Authorization: Bearer tok_SECRET1 token=SECRET2",
            ),
            (
                1500,
                500,
                r#"{"error":"boom","detail":{"api_key":"sk_SECRET3","n":1}}"#,
            ),
            (40, 200, "ok"),
        ],
    )
    .await;
    let cfg = config_with(
        &url,
        SECRET,
        "retry_schedule_secs = [1]\nmax_attempts = 5",
        "",
    );
    let (engine, store) = engine_on_cfg(cfg, true).await;
    let engine = engine.with_clock(clock.clone());
    let ids = enqueue(&engine, &store, 1).await;
    let d = dest(&engine);
    let mut starts = Vec::new();
    for want in [Outcome::Failed, Outcome::Failed, Outcome::Delivered] {
        let now = clock.now() + chrono::Duration::days(1);
        let got = store
            .claim_deliveries("t", 1, now, now + chrono::Duration::minutes(1), &[])
            .await
            .unwrap();
        let Some(c) = got.into_iter().next() else {
            panic!("{:?}", deliveries(&store, None).await);
        };
        starts.push(clock.now());
        assert_eq!(
            engine.deliver_one(&c, &d, Duration::from_secs(30)).await,
            want
        );
        clock.advance(Duration::from_secs(2));
    }
    let detail = engine.event_detail(&ids[0]).await.unwrap();
    let got: Vec<_> = detail
        .attempts
        .iter()
        .map(|a| {
            (
                a.number,
                a.started_at,
                a.duration_ms,
                a.status,
                a.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, starts[0], 250, Some(503), "http_error"),
            (2, starts[1], 1500, Some(500), "http_error"),
            (3, starts[2], 40, Some(200), "delivered"),
        ]
    );
    let excerpts: Vec<_> = detail
        .attempts
        .iter()
        .map(|a| a.excerpt.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        excerpts,
        [
            "busy; retry later. Authorization: Bearer [redacted] token=[redacted]",
            r#"{"detail":{"api_key":"[redacted]","n":1},"error":"boom"}"#,
            "ok",
        ]
    );
    assert!(
        detail
            .attempts
            .iter()
            .all(|a| a.delivery_id == detail.deliveries[0].id)
    );
    assert_eq!(detail.deliveries[0].status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn an_attempt_without_an_answer_is_recorded_as_network() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config_with(
        &format!("http://127.0.0.1:{port}/hooks"),
        SECRET,
        "max_attempts = 1",
        "",
    );
    let (engine, store, clock) = engine_on_manual_clock(cfg).await;
    let ids = enqueue(&engine, &store, 1).await;
    let now = clock.now() + chrono::Duration::days(1);
    let c = store
        .claim_deliveries("t", 1, now, now + chrono::Duration::minutes(1), &[])
        .await
        .unwrap()
        .remove(0);
    engine
        .deliver_one(&c, &dest(&engine), Duration::from_secs(30))
        .await;
    let a = &engine.event_detail(&ids[0]).await.unwrap().attempts;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (
            a[0].status,
            a[0].outcome.as_str(),
            &a[0].excerpt,
            a[0].duration_ms
        ),
        (None, "network", &None, 0)
    );
}
