//! The event pipeline end to end inside one process: events stored → mapped → delivered
//! to a local axum consumer with a short retry schedule; outages and recovery, 410,
//! dead deliveries and their replay, mapping failures fixed by a reload and a replay,
//! signatures checked with the Standard Webhooks verifier, and the shipped mapping
//! examples of `docs/mappings.md` run on the providers' sample payloads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use store::{
    DeliveryFilter, DeliveryStatus, DeliveryStore, Event, EventStore, Mapped, ReplayFilter,
    ReplayStatus,
};
use vault::SecretString;

use super::*;
use crate::Actor;
use crate::pipeline::deliver::{WorkerOptions, next_delay};

pub(super) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// (webhook-id, event id, body, signature valid)
type Seen = (String, String, serde_json::Value, bool);

#[derive(Clone, Default)]
struct Consumer {
    /// Status to answer; changed by the test.
    status: Arc<AtomicU16>,
    /// (webhook-id, event id, body, signature valid)
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn consume(
    State(c): State<Consumer>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut sh = signatures::Headers::new();
    for n in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        sh.append(n, h(n));
    }
    let req = signatures::Request::new("POST", "http://consumer/hooks", &sh, &body);
    let valid = signatures::verify(
        &signatures::Scheme::StandardWebhooks,
        &req,
        &[SecretString::from(WHSEC.to_owned())],
        &signatures::VerifyOptions::at(chrono::Utc::now().timestamp()),
    )
    .is_ok();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    c.seen
        .lock()
        .unwrap()
        .push((h("webhook-id"), h("x-switchboard-event-id"), json, valid));
    axum::http::StatusCode::from_u16(c.status.load(Ordering::SeqCst)).unwrap()
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
}

pub(super) fn pipeline_config(
    url: &str,
    destination_extra: &str,
    mappings: &str,
) -> config::Config {
    let text = format!(
        "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[destinations]]\nid = \"app\"\nurl = \"{url}\"\nsecret = \"env:APP_SECRET\"\n{destination_extra}\n{mappings}"
    );
    let env = BTreeMap::from([("APP_SECRET".to_owned(), WHSEC.to_owned())]);
    config::Config::from_toml(&text, "t.toml", &env, &Default::default()).unwrap()
}

pub(super) async fn engine_with(cfg: config::Config) -> (Engine, SqliteStore) {
    let store = memory_store().await;
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg).with_dev(true);
    (engine, store)
}

pub(super) fn stripe_event(n: u32, amount: i64) -> Event {
    let body = serde_json::json!({
        "id": format!("evt_stripe_{n}"),
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": format!("pi_{n}"), "object": "payment_intent", "amount": amount, "currency": "usd", "customer": "cus_1"}}
    });
    Event {
        id: crate::ids::new_event_id(),
        integration: "stripe-main".into(),
        received_at: store::now(),
        provider_event_id: Some(format!("evt_stripe_{n}")),
        event_type: Some("payment_intent.succeeded".into()),
        scheme: "stripe".into(),
        headers: vec![],
        body: body.to_string().into_bytes(),
        connection_id: None,
        routing_key: None,
    }
}

/// Starts a worker; stops it when the returned sender is dropped or sent.
fn start_worker(engine: &Engine) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    tokio::spawn(async move {
        let opts = WorkerOptions {
            owner: "test".into(),
            poll_interval: Duration::from_millis(100),
            breaker_threshold: 1000,
            ..Default::default()
        };
        e.run_delivery_worker(opts, async {
            let _ = rx.await;
        })
        .await;
    });
    tx
}

pub(super) async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub(super) async fn deliveries(
    store: &SqliteStore,
    status: Option<DeliveryStatus>,
) -> Vec<store::Delivery> {
    store
        .list_deliveries(
            &DeliveryFilter {
                status,
                ..Default::default()
            },
            1000,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn consumer_down_then_up_gets_every_event_once_per_webhook_id() {
    let (consumer, url) = Consumer::start(503).await;
    let cfg = pipeline_config(&url, "retry_schedule_secs = [0, 1]\nmax_attempts = 20", "");
    let (engine, store) = engine_with(cfg).await;
    // The retry schedule runs on the engine's clock: the test moves it past each retry
    // (1 s ±20 %) once every failure is recorded and the worker is idle.
    let clock = crate::ManualClock::new();
    let engine = engine.with_clock(clock.clone());
    let _stop = start_worker(&engine);
    let mut ids = Vec::new();
    for n in 0..5 {
        let e = stripe_event(n, 100);
        store.insert_event(&e).await.unwrap();
        engine.poke_pipeline();
        ids.push(e.id);
    }
    let failed_times = async |n: u32| {
        wait_for(
            &format!("failure {n} of every event recorded"),
            async || {
                let all = deliveries(&store, None).await;
                all.len() == 5
                    && all.iter().all(|d| {
                        (d.status, d.attempts, d.last_status)
                            == (DeliveryStatus::Pending, n, Some(503))
                    })
            },
        )
        .await;
        wait_for("the worker idle", async || clock.sleeping() == 1).await;
    };
    // Down: every event is attempted and fails, and nothing more happens until its
    // retry is due.
    failed_times(1).await;
    assert_eq!(consumer.seen().len(), 5);
    // Still down when the retries come: each fails again.
    clock.advance(Duration::from_millis(1200));
    failed_times(2).await;
    assert_eq!(consumer.seen().len(), 10);
    // Up: at the next retry everything arrives.
    consumer.status.store(204, Ordering::SeqCst);
    clock.advance(Duration::from_millis(1200));
    wait_for("every delivery delivered", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 5
    })
    .await;
    let seen = consumer.seen();
    let mut by_webhook_id: HashMap<String, HashSet<String>> = HashMap::new();
    for (wid, evt, body, valid) in &seen {
        assert!(
            valid,
            "signature verifies with the Standard Webhooks verifier"
        );
        assert!(wid.starts_with("dlv_"), "{wid}");
        assert_eq!(
            body["type"], "stripe.payment_intent.succeeded",
            "pass-through type"
        );
        assert_eq!(
            body["data"]["type"], "payment_intent.succeeded",
            "pass-through data is the payload"
        );
        by_webhook_id
            .entry(wid.clone())
            .or_default()
            .insert(evt.clone());
    }
    assert_eq!(
        by_webhook_id.len(),
        5,
        "one webhook-id per event and destination"
    );
    assert!(
        by_webhook_id.values().all(|evts| evts.len() == 1),
        "each webhook-id maps to one event"
    );
    let delivered: HashSet<String> = by_webhook_id.values().flatten().cloned().collect();
    assert_eq!(delivered, ids.into_iter().collect::<HashSet<_>>());
    assert_eq!(
        seen.len(),
        15,
        "three attempts of each, the last one delivered"
    );
    for d in deliveries(&store, Some(DeliveryStatus::Delivered)).await {
        assert_eq!((d.attempts, d.last_status), (3, Some(204)));
        assert!(d.delivered_at.is_some());
    }
    assert_eq!(store.queue_stats().await.unwrap().depth, 0);
}

#[tokio::test]
async fn gone_disables_the_destination_and_its_deliveries_wait() {
    let (consumer, url) = Consumer::start(410).await;
    let cfg = pipeline_config(&url, "retry_schedule_secs = [0, 1]", "");
    let (engine, store) = engine_with(cfg).await;
    let clock = crate::ManualClock::new();
    let engine = engine.with_clock(clock.clone());
    let _stop = start_worker(&engine);
    store.insert_event(&stripe_event(1, 1)).await.unwrap();
    engine.poke_pipeline();
    wait_for("the destination disabled", async || {
        !store.disabled_destinations().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        store.disabled_destinations().await.unwrap(),
        [("app".to_owned(), Some("answered 410 Gone".to_owned()))]
    );
    wait_for("the failure recorded", async || {
        deliveries(&store, Some(DeliveryStatus::Pending))
            .await
            .len()
            == 1
    })
    .await;
    let d = &deliveries(&store, None).await[0];
    assert_eq!(
        (d.status, d.last_status),
        (DeliveryStatus::Pending, Some(410))
    );
    // Retries are not sent to a disabled destination: the retry comes due (1 s ±20 %)
    // and the worker makes a pass after that without sending it.
    wait_for("the worker idle", async || clock.sleeping() == 1).await;
    let sleeps = clock.sleeps_started();
    clock.advance(Duration::from_millis(1200));
    clock.until_sleeps_started(sleeps + 1).await;
    assert_eq!(consumer.seen().len(), 1);
    let d = &deliveries(&store, None).await[0];
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));
    assert!(d.next_attempt_at <= clock.now(), "due, yet not sent");
    let audit = engine.inner.store.list_audit_desc(None, 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.entry.action == "destination.disable" && a.entry.target == "app")
    );
}

#[tokio::test]
async fn the_last_failure_makes_it_dead_and_a_replay_delivers_it() {
    let (consumer, url) = Consumer::start(500).await;
    let cfg = pipeline_config(&url, "retry_schedule_secs = [0, 1]\nmax_attempts = 2", "");
    let (engine, store) = engine_with(cfg).await;
    let clock = crate::ManualClock::new();
    let engine = engine.with_clock(clock.clone());
    let _stop = start_worker(&engine);
    let e = stripe_event(7, 5);
    store.insert_event(&e).await.unwrap();
    engine.poke_pipeline();
    wait_for("the first failure recorded", async || {
        deliveries(&store, None)
            .await
            .iter()
            .any(|d| (d.status, d.attempts) == (DeliveryStatus::Pending, 1))
    })
    .await;
    // The retry is the last attempt allowed; it comes when it is due (1 s ±20 %) on the
    // engine's clock.
    wait_for("the worker idle", async || clock.sleeping() == 1).await;
    assert_eq!(consumer.seen().len(), 1);
    clock.advance(Duration::from_millis(1200));
    wait_for("a dead delivery", async || {
        deliveries(&store, Some(DeliveryStatus::Dead)).await.len() == 1
    })
    .await;
    let d = &deliveries(&store, None).await[0];
    assert_eq!((d.attempts, d.last_status), (2, Some(500)));
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(consumer.seen().len(), 2);
    assert_eq!(store.queue_stats().await.unwrap().dead, 1);

    consumer.status.store(200, Ordering::SeqCst);
    let dead = ReplayFilter {
        status: Some(ReplayStatus::Dead),
        ..Default::default()
    };
    let dry = engine.replay(&dead, true, &Actor::System).await.unwrap();
    assert_eq!((dry.events, dry.deliveries), (1, 1));
    assert_eq!(
        deliveries(&store, Some(DeliveryStatus::Dead)).await.len(),
        1,
        "a dry run changes nothing"
    );
    engine.replay(&dead, false, &Actor::System).await.unwrap();
    wait_for("the replayed delivery delivered", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 1
    })
    .await;
    let seen = consumer.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[2].0, d.id,
        "the webhook-id is stable across retries and replays"
    );
    assert_eq!(seen[2].1, e.id);
}

#[tokio::test]
async fn mapping_failed_then_fixed_mapping_then_replay_maps_it_again() {
    let (consumer, url) = Consumer::start(200).await;
    let broken = "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"payment_intent.succeeded\"\n\
                  jq = '{type: \"payment.completed\", data: {amount: (.data.object.amount + \"x\")}}'\n";
    let (engine, store) = engine_with(pipeline_config(&url, "", broken)).await;
    let e = stripe_event(3, 4200);
    store.insert_event(&e).await.unwrap();
    assert_eq!(engine.route_pending().await.unwrap(), 1);
    let r = store.event_routing(&e.id).await.unwrap().unwrap();
    let Some(Mapped::Failed { error }) = r.mapped else {
        panic!("not failed: {r:?}")
    };
    assert!(error.starts_with("mappings[0] (integration \"stripe-main\", event type \"payment_intent.succeeded\"): jq error"), "{error}");
    assert_eq!(store.queue_stats().await.unwrap().depth, 0);

    let fixed = "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"payment_intent.succeeded\"\n\
                 jq = '{type: \"payment.completed\", data: {payment_id: .data.object.id, amount: .data.object.amount}}'\n\
                 schema = '{\"type\": \"object\", \"required\": [\"payment_id\", \"amount\"]}'\n";
    let (changed, _) = engine
        .reload_config(pipeline_config(&url, "", fixed), &Actor::System)
        .await
        .unwrap();
    assert_eq!(changed, ["mappings"]);
    let n = engine
        .replay(
            &ReplayFilter {
                status: Some(ReplayStatus::MappingFailed),
                ..Default::default()
            },
            false,
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(n.events, 1);
    let _stop = start_worker(&engine);
    wait_for("the remapped event delivered", async || {
        deliveries(&store, Some(DeliveryStatus::Delivered))
            .await
            .len()
            == 1
    })
    .await;
    let seen = consumer.seen();
    assert_eq!(seen[0].2["type"], "payment.completed");
    assert_eq!(
        seen[0].2["data"],
        serde_json::json!({"payment_id": "pi_3", "amount": 4200})
    );
    assert!(seen[0].3);
}

#[tokio::test]
async fn internal_events_pass_through_and_types_route_by_pattern() {
    let (consumer, url) = Consumer::start(200).await;
    let cfg = pipeline_config(&url, "event_types = [\"connection.*\"]", "");
    let (engine, store) = engine_with(cfg).await;
    let internal = Event {
        scheme: "internal".into(),
        event_type: Some("connection.needs_reauth".into()),
        provider_event_id: None,
        body:
            serde_json::json!({"type": "connection.needs_reauth", "data": {"connection_id": "c1"}})
                .to_string()
                .into_bytes(),
        ..stripe_event(1, 1)
    };
    store.insert_event(&internal).await.unwrap();
    store.insert_event(&stripe_event(2, 1)).await.unwrap();
    assert_eq!(engine.route_pending().await.unwrap(), 2);
    let all = deliveries(&store, None).await;
    assert_eq!(all.len(), 1, "the stripe event does not match connection.*");
    assert_eq!(all[0].event_id, internal.id);
    let _stop = start_worker(&engine);
    wait_for("delivered", async || consumer.seen().len() == 1).await;
    let body = &consumer.seen()[0].2;
    assert_eq!(body["type"], "connection.needs_reauth");
    assert_eq!(body["data"], serde_json::json!({"connection_id": "c1"}));
}

#[test]
fn retry_delays_follow_the_schedule_with_jitter_and_retry_after() {
    let s = config::DEFAULT_RETRY_SCHEDULE_SECS;
    assert_eq!(next_delay(s, 8, 1, None, 0.5), Some(Duration::from_secs(5)));
    assert_eq!(
        next_delay(s, 8, 2, None, 0.0),
        Some(Duration::from_secs(240))
    );
    assert_eq!(
        next_delay(s, 8, 2, None, 1.0),
        Some(Duration::from_secs(360))
    );
    assert_eq!(
        next_delay(s, 8, 7, None, 0.5),
        Some(Duration::from_secs(36_000))
    );
    assert_eq!(
        next_delay(s, 8, 8, None, 0.5),
        None,
        "after the last attempt: dead"
    );
    assert_eq!(
        next_delay(&[0, 1], 5, 4, None, 0.5),
        Some(Duration::from_secs(1)),
        "the last entry repeats"
    );
    assert_eq!(
        next_delay(s, 8, 1, Some(Duration::from_secs(60)), 0.5),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        next_delay(s, 8, 3, Some(Duration::from_secs(1)), 0.5),
        Some(Duration::from_secs(1800)),
        "never earlier than the schedule"
    );
    assert_eq!(
        next_delay(s, 8, 1, Some(Duration::from_secs(10_000_000)), 0.5),
        Some(Duration::from_secs(86_400)),
        "capped"
    );
    assert_eq!(crate::pipeline::deliver::lease_secs(15), 45);
}

#[test]
fn destination_patterns() {
    use crate::pipeline::mapping::type_matches;
    assert!(type_matches("*", "a.b"));
    assert!(type_matches("payment.*", "payment.completed"));
    assert!(!type_matches("payment.*", "payments.completed"));
    assert!(!type_matches("payment.*", "payment"));
    assert!(type_matches("user.created", "user.created"));
    assert!(!type_matches("user.created", "user.updated"));
}

/// The ```toml blocks of docs/mappings.md.
fn doc_blocks() -> Vec<String> {
    let doc = include_str!("../../../../docs/mappings.md");
    doc.split("```toml\n")
        .skip(1)
        .map(|b| b[..b.find("```").unwrap()].to_owned())
        .collect()
}

fn sample(integration: &str, event_type: &str, body: serde_json::Value) -> Event {
    Event {
        integration: integration.into(),
        event_type: Some(event_type.into()),
        body: body.to_string().into_bytes(),
        ..stripe_event(0, 0)
    }
}

#[test]
fn shipped_mapping_examples_map_the_sample_payloads() {
    let env = BTreeMap::from([
        ("STRIPE_WEBHOOK_SECRET".to_owned(), "whsec_x".to_owned()),
        ("GITHUB_WEBHOOK_SECRET".to_owned(), "gh".to_owned()),
        ("SLACK_SIGNING_SECRET".to_owned(), "sl".to_owned()),
    ]);
    let blocks = doc_blocks();
    assert_eq!(blocks.len(), 3);
    let cfgs: Vec<config::Config> = blocks
        .iter()
        .map(|b| config::Config::from_toml(b, "mappings.md", &env, &Default::default()).unwrap())
        .collect();
    let map = |cfg: &config::Config, provider: &str, e: &Event| {
        crate::pipeline::mapping::map_event(cfg, provider, e)
    };
    let data = |m: Mapped| match m {
        Mapped::Mapped { event_type, data } => (
            event_type,
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
        ),
        other => panic!("{other:?}"),
    };

    // Stripe's sample `payment_intent.succeeded` (API reference, abridged to the fields used).
    let stripe = sample(
        "stripe-main",
        "payment_intent.succeeded",
        serde_json::json!({
            "id": "evt_3MtwBwLkdIwHu7ix28a3tqPa", "object": "event", "api_version": "2022-11-15",
            "type": "payment_intent.succeeded", "livemode": false,
            "data": {"object": {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent",
                "amount": 2000, "amount_received": 2000, "currency": "usd",
                "customer": null, "status": "succeeded"}}
        }),
    );
    let (t, d) = data(map(&cfgs[0], "stripe", &stripe));
    assert_eq!(t, "payment.completed");
    assert_eq!(
        d,
        serde_json::json!({"payment_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": 2000,
            "currency": "usd", "customer_id": null, "stripe_event_id": "evt_3MtwBwLkdIwHu7ix28a3tqPa"})
    );
    // A payload the schema refuses fails the mapping, naming the place.
    let mut bad = stripe.clone();
    bad.body =
        br#"{"id":"e","data":{"object":{"id":"pi","amount":"2000","currency":"usd"}}}"#.to_vec();
    let Mapped::Failed { error } = map(&cfgs[0], "stripe", &bad) else {
        panic!("schema not applied")
    };
    assert!(
        error.contains("mappings[0]") && error.contains("schema"),
        "{error}"
    );

    // GitHub's sample `organization` webhook (member_added), abridged.
    let github = |action: &str| {
        sample(
            "github-main",
            "organization",
            serde_json::json!({
                "action": action,
                "membership": {"url": "https://api.github.com/orgs/octo-org/memberships/octocat",
                    "state": "active", "role": "member",
                    "user": {"login": "octocat", "id": 583231, "type": "User"}},
                "organization": {"login": "octo-org", "id": 6811672},
                "sender": {"login": "octocat", "id": 583231}
            }),
        )
    };
    let (t, d) = data(map(&cfgs[1], "github", &github("member_added")));
    assert_eq!(t, "user.created");
    assert_eq!(
        d,
        serde_json::json!({"provider": "github", "id": "583231", "login": "octocat",
            "role": "member", "organization": "octo-org"})
    );
    assert_eq!(
        data(map(&cfgs[1], "github", &github("member_removed"))).0,
        "user.updated"
    );
    assert_eq!(
        map(&cfgs[1], "github", &github("member_invited")),
        Mapped::Dropped
    );

    // Slack's sample `team_join` and `user_change` Events API callbacks, abridged.
    let slack = |ty: &str| {
        sample(
            "slack-main",
            ty,
            serde_json::json!({
                "token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456",
                "event": {"type": ty, "user": {"id": "W123ABC456", "team_id": "T123ABC456",
                    "name": "spengler", "real_name": "Egon Spengler",
                    "profile": {"email": "spengler@ghostbusters.example.com"}}},
                "type": "event_callback", "event_id": "Ev123ABC456", "event_time": 1_234_567_890
            }),
        )
    };
    for (ty, want) in [
        ("team_join", "user.created"),
        ("user_change", "user.updated"),
    ] {
        let (t, d) = data(map(&cfgs[2], "slack", &slack(ty)));
        assert_eq!(t, want);
        assert_eq!(
            d,
            serde_json::json!({"provider": "slack", "id": "W123ABC456", "team_id": "T123ABC456",
                "name": "spengler", "email": "spengler@ghostbusters.example.com"})
        );
    }
    // Without a mapping: pass-through.
    let (t, d) = data(map(&cfgs[2], "slack", &slack("app_mention")));
    assert_eq!(t, "slack.app_mention");
    assert_eq!(d["event_id"], "Ev123ABC456");
}
