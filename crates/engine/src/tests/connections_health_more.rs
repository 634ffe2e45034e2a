//! Credential health checks, more cases: basic credentials, a connection with nothing
//! to try, the provider's 403 messages in their usual shapes, a refresh outage, a lease
//! held elsewhere, failed checks in the audit log, and the background checker's loop on
//! the manual clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::{ConnectionStatus, ConnectionStore, EventStore, HealthResult};

use super::all_audit;
use super::connections::{
    H, Req, Resp, Stub, config, conn, default_route, engine_with, harness_with, integration,
    plain_provider, provider, put,
};

const EVERY: &str = "health_check_interval_secs = 60";

async fn status(h: &H, id: &str) -> (ConnectionStatus, Option<store::HealthCheck>) {
    let c = h.store.get_connection(id).await.unwrap().unwrap();
    (c.status, c.health)
}

async fn needs_reauth_events(h: &H) -> usize {
    h.store
        .list_events(Some("it"), None, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type.as_deref() == Some("connection.needs_reauth"))
        .count()
}

async fn plain_conn(h: &H, id: &str, mode: &str, creds: serde_json::Value) {
    let mut c = conn(id, "it", mode, None);
    c.next_refresh_at = None;
    put(&h.engine, &c, creds).await;
}

async fn api_key_harness(route: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> H {
    let stub = Stub::start(route).await;
    let p = plain_provider(
        "p",
        &stub.base,
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
    );
    harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await
}

#[tokio::test]
async fn basic_credentials_are_checked_with_basic_authentication() {
    let stub = Stub::start(default_route).await;
    let p = plain_provider("p", &stub.base, "basic", json!({}));
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    plain_conn(
        &h,
        "good",
        "basic",
        json!({"username": "user", "password": "pw"}),
    )
    .await;
    plain_conn(
        &h,
        "bad",
        "basic",
        json!({"username": "user", "password": "old"}),
    )
    .await;

    let r = h.engine.check_connection_now("good").await.unwrap();
    assert_eq!(r.result, HealthResult::Ok);
    let sent = h.stub.reqs("/api/me");
    assert_eq!(
        sent[0].header("authorization"),
        Some(super::connections::basic_plain("user", "pw").as_str())
    );

    let r = h.engine.check_connection_now("bad").await.unwrap();
    assert_eq!(r.result, HealthResult::Rejected);
    assert_eq!(r.detail.as_deref(), Some("HTTP 401"));
    assert_eq!(r.connection.status, ConnectionStatus::NeedsReauth);
    assert_eq!(needs_reauth_events(&h).await, 1);
    assert_eq!(status(&h, "good").await.0, ConnectionStatus::Active);
}

#[tokio::test]
async fn a_connection_holding_no_credential_is_an_error_and_stays_active() {
    let h = api_key_harness(default_route).await;
    plain_conn(&h, "empty", "api_key", json!({})).await;
    let r = h.engine.check_connection_now("empty").await.unwrap();
    assert_eq!(r.result, HealthResult::Error);
    assert!(
        r.detail.as_deref().unwrap().contains("holds no credential"),
        "{:?}",
        r.detail
    );
    assert_eq!(r.connection.status, ConnectionStatus::Active);
    assert_eq!(h.stub.count("/api/me"), 0, "nothing was sent");
}

/// The provider's explanation of a 403 is found in the shapes APIs use, redacted; a
/// body without one leaves the bare status.
#[tokio::test]
async fn a_403_keeps_the_providers_message_in_its_usual_shapes() {
    let bodies = [
        json!({"message": "plan limit"}),
        json!({"error": {"message": "plan limit"}}),
        json!({"errors": [{"detail": "plan limit"}]}),
        json!({"detail": "plan limit"}),
        json!({"error": "plan limit"}),
        json!({"message": "   ", "detail": "plan limit"}),
    ];
    let n = bodies.len();
    let h = api_key_harness(
        move |r| match (r.path.as_str(), r.header("authorization")) {
            ("/api/me", Some(a)) => {
                let i: usize = a.trim_start_matches("Bearer key-").parse().unwrap_or(99);
                match bodies.get(i) {
                    Some(b) => Resp::json(403, b.clone()),
                    None if i == 98 => Resp::raw(403, "text/html", "<h1>Forbidden</h1>"),
                    None => Resp::json(403, json!({"error": {"code": 7}})),
                }
            }
            _ => default_route(r),
        },
    )
    .await;
    for i in 0..n {
        let id = format!("c{i}");
        plain_conn(&h, &id, "api_key", json!({"api_key": format!("key-{i}")})).await;
        let r = h.engine.check_connection_now(&id).await.unwrap();
        assert_eq!(r.result, HealthResult::Forbidden, "{i}");
        assert_eq!(r.detail.as_deref(), Some("HTTP 403: plan limit"), "{i}");
        assert_eq!(r.connection.status, ConnectionStatus::Active);
    }
    for (id, key) in [("html", "key-98"), ("nomessage", "key-99")] {
        plain_conn(&h, id, "api_key", json!({"api_key": key})).await;
        let r = h.engine.check_connection_now(id).await.unwrap();
        assert_eq!(r.result, HealthResult::Forbidden, "{id}");
        assert_eq!(r.detail.as_deref(), Some("HTTP 403"), "{id}");
    }
}

/// A token that must be refreshed first, at a token endpoint that is down: unavailable,
/// the connection unchanged.
#[tokio::test]
async fn a_refresh_outage_is_unavailable_and_an_odd_answer_an_error() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/token" => Resp::json(503, json!({"error": "temporarily_unavailable"})),
        _ => default_route(r),
    })
    .await;
    let p = provider("p", &stub.base, json!({}));
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    put(
        &h.engine,
        &conn("o", "it", "oauth2", Some(-10)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let r = h.engine.check_connection_now("o").await.unwrap();
    assert_eq!(r.result, HealthResult::Unavailable, "{:?}", r.detail);
    assert_eq!(r.connection.status, ConnectionStatus::Active);
    assert!(h.stub.count("/token") >= 1);
    assert_eq!(h.stub.count("/userinfo"), 0, "no check without a token");
    assert_eq!(needs_reauth_events(&h).await, 0);
}

/// A 401 while another process holds the refresh lease: that refresh decides, so the
/// check writes nothing but an `error` result.
#[tokio::test]
async fn a_401_under_a_lease_held_elsewhere_marks_nothing() {
    let h = api_key_harness(default_route).await;
    plain_conn(&h, "k", "api_key", json!({"api_key": "key-rotated"})).await;
    let now = h.engine.now();
    let lease = h
        .store
        .acquire_refresh_lease("k", now, now + chrono::Duration::seconds(60))
        .await
        .unwrap();
    assert!(lease.is_some());
    let r = h.engine.check_connection_now("k").await.unwrap();
    assert_eq!(r.result, HealthResult::Error);
    assert_eq!(r.connection.status, ConnectionStatus::Active);
    assert_eq!(needs_reauth_events(&h).await, 0);
}

/// Asked-for checks that fail are audited with the error's code; an unknown connection
/// is not.
#[tokio::test]
async fn failed_checks_are_audited_with_their_error() {
    let h = api_key_harness(default_route).await;
    plain_conn(&h, "k", "api_key", json!({"api_key": "key-rotated"})).await;
    let actor = crate::Actor::Cli {
        user: "alice".into(),
    };
    let r = h.engine.check_connection_by("k", &actor).await.unwrap();
    assert_eq!(r.result, HealthResult::Rejected);
    // Now needs_reauth: cannot be checked, and that is audited.
    let e = h.engine.check_connection_by("k", &actor).await.unwrap_err();
    assert!(
        matches!(e, crate::EngineError::ConnectionState { .. }),
        "{e:?}"
    );
    let e = h
        .engine
        .check_connection_by("nobody", &actor)
        .await
        .unwrap_err();
    assert!(matches!(e, crate::EngineError::NotFound { .. }), "{e:?}");
    let rows: Vec<_> = all_audit(&h.store)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "connection.check")
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].entry.details["result"], "rejected");
    assert_eq!(rows[0].entry.details["status"], "needs_reauth");
    assert_eq!(rows[1].entry.target, "k");
    assert_eq!(rows[1].entry.actor, "cli:alice");
    assert_eq!(rows[1].entry.details["error"], "needs_reauth");
}

/// The background checker on the manual clock: it passes after each tick, checks due
/// connections, and stops on shutdown.
#[tokio::test]
async fn the_background_checker_passes_every_tick_until_shutdown() {
    let stub = Stub::start(default_route).await;
    let p = plain_provider(
        "p",
        &stub.base,
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
    );
    let store = super::memory_store().await;
    let clock = crate::ManualClock::new();
    let engine = engine_with(
        Arc::new(store.clone()),
        super::ring(&super::key(), &[]),
        &[p],
        // A second integration with checks but no connections: skipped.
        config(
            "",
            &format!(
                "{}{}",
                integration("it", "p", EVERY),
                integration("idle", "p", EVERY)
            ),
        ),
        true,
    )
    .with_clock(clock.clone());
    let h = H {
        engine: engine.clone(),
        store,
        stub,
    };
    let mut c = conn("k", "it", "api_key", None);
    c.next_refresh_at = None;
    put(&engine, &c, json!({"api_key": "key-ok"})).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let task = tokio::spawn(async move {
        e.run_health_checker(async {
            let _ = stopped.await;
        })
        .await;
    });
    clock.until_sleeping(1).await;
    assert_eq!(h.stub.count("/api/me"), 0, "nothing before the first tick");
    // A tick is 10 s ± 20 %.
    clock.advance(crate::connections::health::TICK.mul_f64(1.2));
    clock.until_sleeps_started(2).await;
    assert_eq!(h.stub.count("/api/me"), 1);
    let health = status(&h, "k").await.1.unwrap();
    assert_eq!(health.result, HealthResult::Ok);
    assert_eq!(health.checked_at, clock.now());
    // Checked once per interval: the next tick finds nothing due.
    clock.advance(Duration::from_secs(12));
    clock.until_sleeps_started(3).await;
    assert_eq!(h.stub.count("/api/me"), 1);
    stop.send(()).unwrap();
    task.await.unwrap();
}
