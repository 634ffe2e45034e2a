//! Credential health checks: API keys rotated behind our back, OAuth2 grants refused,
//! outages that change nothing, and one check per interval across two engines.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::{ConnectionStatus, ConnectionStore, EventStore, HealthResult};

use super::connections::{
    H, Resp, Stub, config, conn, default_route, engine_with, harness_with, integration,
    plain_provider, provider, put,
};
use super::{TempDb, all_audit, key, ring};

const EVERY: &str = "health_check_interval_secs = 60";

/// Integration `it` of an API-key provider whose verify request is `GET /api/me`
/// (200 for `Bearer key-ok`, else 401), with health checks every minute.
async fn api_key_harness(
    route: impl Fn(&super::connections::Req) -> Resp + Send + Sync + 'static,
) -> H {
    let stub = Stub::start(route).await;
    let p = plain_provider(
        "p",
        &stub.base,
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
    );
    harness_with(
        stub,
        vec![p],
        &integration("it", "p", EVERY),
        "outbound_timeout_secs = 1",
    )
    .await
}

async fn key_conn(h: &H, id: &str, key: &str) {
    let mut c = conn(id, "it", "api_key", None);
    c.next_refresh_at = None;
    put(&h.engine, &c, json!({"api_key": key})).await;
}

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

#[tokio::test]
async fn a_working_api_key_is_ok_and_a_rotated_one_needs_reauth() {
    let h = api_key_harness(default_route).await;
    key_conn(&h, "good", "key-ok").await;
    key_conn(&h, "rotated", "key-rotated-away").await;

    let r = h.engine.check_connection_health("good").await.unwrap();
    assert_eq!(r, Some(HealthResult::Ok));
    let (s, health) = status(&h, "good").await;
    assert_eq!(s, ConnectionStatus::Active);
    let health = health.unwrap();
    assert_eq!(health.result, HealthResult::Ok);
    assert_eq!(health.checked_at, h.engine.now().min(health.checked_at));

    let r = h.engine.check_connection_health("rotated").await.unwrap();
    assert_eq!(r, Some(HealthResult::Rejected));
    let (s, health) = status(&h, "rotated").await;
    assert_eq!(s, ConnectionStatus::NeedsReauth);
    assert_eq!(health.unwrap().detail.as_deref(), Some("HTTP 401"));
    assert_eq!(
        needs_reauth_events(&h).await,
        1,
        "the same event as invalid_grant"
    );
    assert!(
        all_audit(&h.store)
            .await
            .iter()
            .any(|r| r.entry.action == "connection.needs_reauth" && r.entry.target == "rotated")
    );
    let c = h.store.get_connection("rotated").await.unwrap().unwrap();
    assert!(c.last_error.unwrap().contains("connect again"));
    // A connection that is no longer active is not checked again.
    assert_eq!(
        h.engine.check_connection_health("rotated").await.unwrap(),
        None
    );
    assert_eq!(h.stub.count("/api/me"), 2);
}

#[tokio::test]
async fn outages_change_nothing() {
    // 503, 500 and 429 answers, then a provider slower than the outbound timeout.
    let h = api_key_harness(|r| match r.header("x-case") {
        _ if r.path == "/api/me" => match r.header("authorization") {
            Some("Bearer key-503") => Resp::json(503, json!({"error": "down"})),
            Some("Bearer key-500") => Resp::json(500, json!({"error": "oops"})),
            Some("Bearer key-429") => Resp::json(429, json!({"error": "slow down"})),
            Some("Bearer key-slow") => {
                Resp::json(200, json!({"ok": true})).delayed(Duration::from_secs(3))
            }
            _ => Resp::json(404, json!({})),
        },
        _ => default_route(r),
    })
    .await;
    for (id, k) in [
        ("a", "key-503"),
        ("b", "key-500"),
        ("c", "key-429"),
        ("d", "key-slow"),
    ] {
        key_conn(&h, id, k).await;
        let r = h.engine.check_connection_health(id).await.unwrap();
        assert_eq!(r, Some(HealthResult::Unavailable), "{id}");
        let (s, health) = status(&h, id).await;
        assert_eq!(s, ConnectionStatus::Active, "{id}");
        assert_eq!(health.unwrap().result, HealthResult::Unavailable, "{id}");
    }
    // Another answer is an error, and changes nothing either.
    key_conn(&h, "e", "key-404").await;
    assert_eq!(
        h.engine.check_connection_health("e").await.unwrap(),
        Some(HealthResult::Error)
    );
    assert_eq!(status(&h, "e").await.0, ConnectionStatus::Active);
    assert_eq!(needs_reauth_events(&h).await, 0);
}

#[tokio::test]
async fn a_provider_that_refuses_connections_changes_nothing() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stub = Stub::start(default_route).await;
    let p = plain_provider(
        "p",
        &format!("http://127.0.0.1:{port}"),
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    key_conn(&h, "a", "key-ok").await;
    let r = h.engine.check_connection_health("a").await.unwrap();
    assert_eq!(r, Some(HealthResult::Unavailable));
    assert_eq!(status(&h, "a").await.0, ConnectionStatus::Active);
}

/// OAuth2: a 401 at userinfo forces one refresh. A refused refresh marks needs_reauth
/// (the refresh path's event); a refresh that works but whose new token is refused too
/// marks it as well; a refresh that cures it is ok.
#[tokio::test]
async fn oauth_401_refreshes_once_then_decides() {
    let stub = Stub::start(default_route).await;
    let p = provider("p", &stub.base, json!({}));
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    let put_oauth = |id: &'static str| {
        let e = h.engine.clone();
        async move {
            put(
                &e,
                &conn(id, "it", "oauth2", Some(3600)),
                json!({"access_token": "old-at", "refresh_token": "old-rt"}),
            )
            .await
        }
    };
    // Userinfo accepts only refreshed tokens (at-…): the refresh cures it.
    h.stub.set(|r| match r.path.as_str() {
        "/userinfo"
            if r.header("authorization")
                .is_some_and(|a| a.starts_with("Bearer at-")) =>
        {
            Resp::json(200, json!({"sub": "u"}))
        }
        "/userinfo" => Resp::json(401, json!({"error": "invalid_token"})),
        _ => default_route(r),
    });
    put_oauth("cured").await;
    assert_eq!(
        h.engine.check_connection_health("cured").await.unwrap(),
        Some(HealthResult::Ok)
    );
    assert_eq!(h.stub.count("/token"), 1);
    assert_eq!(status(&h, "cured").await.0, ConnectionStatus::Active);

    // Userinfo refuses everything: refreshed once, then marked.
    h.stub.set(|r| match r.path.as_str() {
        "/userinfo" => Resp::json(401, json!({"error": "invalid_token"})),
        _ => default_route(r),
    });
    put_oauth("refused").await;
    assert_eq!(
        h.engine.check_connection_health("refused").await.unwrap(),
        Some(HealthResult::Rejected)
    );
    assert_eq!(h.stub.count("/token"), 2, "one refresh per check");
    assert_eq!(status(&h, "refused").await.0, ConnectionStatus::NeedsReauth);

    // The grant is gone: the refresh says invalid_grant.
    h.stub.set(|r| match r.path.as_str() {
        "/userinfo" => Resp::json(401, json!({"error": "invalid_token"})),
        "/token" => Resp::json(400, json!({"error": "invalid_grant"})),
        _ => default_route(r),
    });
    put_oauth("revoked").await;
    assert_eq!(
        h.engine.check_connection_health("revoked").await.unwrap(),
        Some(HealthResult::Rejected)
    );
    assert_eq!(status(&h, "revoked").await.0, ConnectionStatus::NeedsReauth);
    assert_eq!(needs_reauth_events(&h).await, 2);

    // An outage at userinfo: nothing changes, and no refresh is tried.
    h.stub.set(|r| match r.path.as_str() {
        "/userinfo" => Resp::json(502, json!({})),
        _ => default_route(r),
    });
    put_oauth("outage").await;
    let before = h.stub.count("/token");
    assert_eq!(
        h.engine.check_connection_health("outage").await.unwrap(),
        Some(HealthResult::Unavailable)
    );
    assert_eq!(h.stub.count("/token"), before);
    assert_eq!(status(&h, "outage").await.0, ConnectionStatus::Active);
}

/// Two engines on one database, passing at once and again: every connection is checked
/// exactly once per interval, and again once the interval has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_check_each_connection_once_per_interval() {
    let db = TempDb::new();
    let stub = Stub::start(default_route).await;
    let p = plain_provider(
        "p",
        &stub.base,
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
    );
    let keyring = ring(&key(), &[]);
    let clock = crate::ManualClock::new();
    let mk = |s: store_sqlite::SqliteStore| {
        engine_with(
            Arc::new(s),
            keyring.clone(),
            std::slice::from_ref(&p),
            config("", &integration("it", "p", EVERY)),
            true,
        )
        .with_clock(clock.clone())
    };
    let a = mk(db.store().await);
    let b = mk(db.store().await);
    for i in 0..20 {
        let mut c = conn(&format!("k{i:02}"), "it", "api_key", None);
        c.next_refresh_at = None;
        put(&a, &c, json!({"api_key": "key-ok"})).await;
    }
    // 20 connections every 60 s, passes every 10 s: 5 per pass and engine (a share,
    // rounded up, plus one). Passes until nothing is left.
    let mut checked = 0;
    for _ in 0..10 {
        let (x, y) = tokio::join!(a.health_check_pass(), b.health_check_pass());
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x <= 5 && y <= 5, "{x} {y}: a pass takes its share");
        checked += x + y;
    }
    assert_eq!(checked, 20);
    assert_eq!(stub.count("/api/me"), 20, "each connection once");
    clock.advance(Duration::from_secs(59));
    assert_eq!(a.health_check_pass().await.unwrap(), 0);
    clock.advance(Duration::from_secs(1));
    let mut again = 0;
    for _ in 0..10 {
        again += a.health_check_pass().await.unwrap();
    }
    assert_eq!(again, 20);
    assert_eq!(stub.count("/api/me"), 40);
    // Without the key, nothing is checked.
    let off = engine_with(
        Arc::new(db.store().await),
        keyring.clone(),
        std::slice::from_ref(&p),
        config("", &integration("it", "p", "")),
        true,
    )
    .with_clock(clock.clone());
    clock.advance(Duration::from_secs(120));
    assert_eq!(off.health_check_pass().await.unwrap(), 0);
}

/// A 403 is not a dead credential: the connection stays active, no refresh is tried, the
/// result is `forbidden` with the provider's message (redacted, capped) and the scopes
/// the check request needs that were not granted.
#[tokio::test]
async fn a_403_is_forbidden_and_leaves_the_connection_active() {
    let stub = Stub::start(default_route).await;
    // An OpenID Connect provider: its default scopes ask for `openid`.
    let p = provider(
        "p",
        &stub.base,
        json!({"oauth2": {"default_scopes": ["openid", "read"]}}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    let long = "x".repeat(500);
    h.stub.set(move |r| match r.path.as_str() {
        "/userinfo" => Resp::json(
            403,
            json!({"error": "insufficient_scope", "error_description": format!("the access token lacks openid; token=sekret-at-1 {long}")}),
        ),
        _ => default_route(r),
    });
    // Granted `read` only: userinfo needs `openid`.
    put(
        &h.engine,
        &conn("o", "it", "oauth2", Some(3600)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let r = h.engine.check_connection_now("o").await.unwrap();
    assert_eq!(r.result, HealthResult::Forbidden);
    assert_eq!(r.missing_scopes, vec!["openid".to_owned()]);
    assert_eq!(r.connection.status, ConnectionStatus::Active);
    let detail = r.detail.unwrap();
    assert!(
        detail.starts_with("HTTP 403 (missing scopes: openid): the access token lacks openid"),
        "{detail}"
    );
    assert!(!detail.contains("sekret"), "redacted: {detail}");
    assert!(detail.chars().count() <= 200, "capped: {detail}");
    assert_eq!(h.stub.count("/token"), 0, "a 403 forces no refresh");
    let (s, health) = status(&h, "o").await;
    assert_eq!(s, ConnectionStatus::Active);
    assert_eq!(health.unwrap().result, HealthResult::Forbidden);
    assert_eq!(needs_reauth_events(&h).await, 0);
    // The token is still served.
    h.engine.connection_token("o").await.unwrap();
}

/// A provider's own "who am I" endpoint (its default scopes do not ask for `openid`): a
/// 403 there names no missing scope, since the provider has no `openid` to grant.
#[tokio::test]
async fn a_403_at_a_non_oidc_userinfo_names_no_missing_scope() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/userinfo" => Resp::json(403, json!({"message": "Resource not accessible"})),
        _ => default_route(r),
    })
    .await;
    let p = provider(
        "p",
        &stub.base,
        json!({"oauth2": {"default_scopes": ["current_user:read"]}}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    put(
        &h.engine,
        &conn("o", "it", "oauth2", Some(3600)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let r = h.engine.check_connection_now("o").await.unwrap();
    assert_eq!(r.result, HealthResult::Forbidden);
    assert!(r.missing_scopes.is_empty(), "{:?}", r.missing_scopes);
    assert_eq!(
        r.detail.as_deref(),
        Some("HTTP 403: Resource not accessible")
    );
    assert_eq!(r.connection.status, ConnectionStatus::Active);
}

/// An API key the provider answers 403 for (a plan limit): `forbidden`, still active;
/// the verify request's catalog scopes are not compared for a connection that was
/// granted none.
#[tokio::test]
async fn an_api_key_refused_with_403_stays_active() {
    let h = api_key_harness(|r| match r.path.as_str() {
        "/api/me" => Resp::json(
            403,
            json!({"errors": [{"message": "your plan does not include the API"}]}),
        ),
        _ => default_route(r),
    })
    .await;
    key_conn(&h, "k", "key-ok").await;
    let r = h.engine.check_connection_now("k").await.unwrap();
    assert_eq!(r.result, HealthResult::Forbidden);
    assert_eq!(
        r.detail.as_deref(),
        Some("HTTP 403: your plan does not include the API")
    );
    assert!(r.missing_scopes.is_empty());
    assert_eq!(status(&h, "k").await.0, ConnectionStatus::Active);
    assert_eq!(needs_reauth_events(&h).await, 0);
}

/// The verify request's catalog scopes: those not granted are `missing_scopes`.
#[tokio::test]
async fn a_403_names_the_verify_requests_scopes_that_were_not_granted() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/api/me" => Resp::json(403, json!({"message": "Forbidden"})),
        _ => default_route(r),
    })
    .await;
    let p = provider(
        "p",
        &stub.base,
        json!({"verify": {"path": "/me", "scopes": ["read", "users:read"]}}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", EVERY), "").await;
    put(
        &h.engine,
        &conn("o", "it", "oauth2", Some(3600)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let r = h.engine.check_connection_now("o").await.unwrap();
    assert_eq!(r.result, HealthResult::Forbidden);
    assert_eq!(r.missing_scopes, vec!["users:read".to_owned()]);
    assert_eq!(
        r.detail.as_deref(),
        Some("HTTP 403 (missing scopes: users:read): Forbidden")
    );
}

/// Check now: the background checker's code at once, a clear error when nothing can be
/// checked (unknown, not active, no request to check with), audited with who asked.
#[tokio::test]
async fn check_now_runs_the_check_and_says_why_when_it_cannot() {
    let h = api_key_harness(default_route).await;
    key_conn(&h, "good", "key-ok").await;
    key_conn(&h, "rotated", "key-rotated-away").await;
    let actor = crate::Actor::Oidc {
        email: "ops@example.com".into(),
    };
    let r = h.engine.check_connection_by("good", &actor).await.unwrap();
    assert_eq!(r.result, HealthResult::Ok);
    assert!(r.detail.is_none());
    assert_eq!(r.connection.health_result.as_deref(), Some("ok"));
    assert_eq!(r.connection.health_checked_at, Some(r.checked_at));

    let r = h.engine.check_connection_now("rotated").await.unwrap();
    assert_eq!(r.result, HealthResult::Rejected);
    assert_eq!(r.connection.status, ConnectionStatus::NeedsReauth);
    assert_eq!(needs_reauth_events(&h).await, 1);

    let e = h.engine.check_connection_now("rotated").await.unwrap_err();
    assert!(
        matches!(e, crate::EngineError::ConnectionState { .. }),
        "{e:?}"
    );
    let e = h.engine.check_connection_now("nobody").await.unwrap_err();
    assert!(matches!(e, crate::EngineError::NotFound { .. }), "{e:?}");
    assert_eq!(h.stub.count("/api/me"), 2, "nothing more was sent");

    let audit = all_audit(&h.store).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "connection.check" && r.entry.target == "good")
        .expect("the check is audited");
    assert_eq!(row.entry.details["result"], "ok");
}

/// A provider with no request to check credentials with: a conflict saying so.
#[tokio::test]
async fn check_now_without_a_check_request_is_a_conflict() {
    let stub = Stub::start(default_route).await;
    let p = plain_provider(
        "p",
        &stub.base,
        "api_key",
        json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}, "verify": null}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", ""), "").await;
    key_conn(&h, "k", "key-ok").await;
    let e = h.engine.check_connection_now("k").await.unwrap_err();
    assert!(matches!(e, crate::EngineError::Conflict(_)), "{e:?}");
    assert!(e.to_string().contains("no request to check"), "{e}");
    assert_eq!(
        h.engine.check_connection_health("k").await.unwrap(),
        None,
        "the background checker skips it"
    );
}
