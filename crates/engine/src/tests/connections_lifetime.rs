//! Tokens that live shorter than the refresh margin, and the catalog's `refresh_tokens`
//! fact (rotating, reused, none) at run time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::{ConnectionStatus, ConnectionStore};

use super::all_audit;
use super::connections::{H, Resp, conn, default_route, harness, put, stored_creds};
use crate::EngineError;

fn on_manual_clock(mut h: H) -> (H, crate::ManualClock) {
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    (h, clock)
}

/// A token endpoint that issues access tokens living `secs` seconds, with a new refresh
/// token each time.
fn short_lived(secs: u64) -> impl Fn(&super::connections::Req) -> Resp + Send + Sync + 'static {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    move |r| match r.path.as_str() {
        "/token" => {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Resp::json(
                200,
                json!({"access_token": format!("short-{i}"), "refresh_token": format!("rt-{i}"),
                       "expires_in": secs, "token_type": "Bearer"}),
            )
        }
        _ => default_route(r),
    }
}

/// A token endpoint whose refresh answers carry no refresh token.
fn without_refresh_token(r: &super::connections::Req) -> Resp {
    match r.path.as_str() {
        "/token" => Resp::json(
            200,
            json!({"access_token": "at-new", "expires_in": 3600, "token_type": "Bearer"}),
        ),
        _ => default_route(r),
    }
}

async fn expiring(h: &H, id: &str, secs: i64) {
    put(
        &h.engine,
        &conn(id, "it", "oauth2", Some(secs)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
}

/// With the default 300 s margin and tokens that live 6 s: after expiry, 200 concurrent
/// callers cause one refresh; the new token is then served (100 calls, and 100 more two
/// seconds later) until half its lifetime has passed, and only then renewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_token_shorter_than_the_margin_is_served_once_obtained() {
    let (h, clock) = on_manual_clock(harness(json!({}), "", "").await);
    assert_eq!(h.engine.config().token_refresh_margin_secs, 300);
    h.stub.set(short_lived(6));
    expiring(&h, "c", -1).await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let e = h.engine.clone();
        tasks.spawn(async move { e.connection_token("c").await.unwrap().access_token.clone() });
    }
    let mut tokens = std::collections::BTreeSet::new();
    while let Some(t) = tasks.join_next().await {
        tokens.insert(t.unwrap().unwrap());
    }
    assert_eq!(h.stub.count("/token"), 1, "one refresh for 200 callers");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.token_obtained_at, Some(clock.now()));
    let life = c.expires_at.unwrap() - c.token_obtained_at.unwrap();
    assert_eq!(life, chrono::Duration::seconds(6));

    for _ in 0..100 {
        h.engine.connection_token("c").await.unwrap();
    }
    clock.advance(Duration::from_secs(2));
    for _ in 0..100 {
        h.engine.connection_token("c").await.unwrap();
    }
    assert_eq!(h.stub.count("/token"), 1, "a token just obtained is served");
    // Half its lifetime (3 s) gone: the next caller renews it, once.
    clock.advance(Duration::from_millis(1001));
    for _ in 0..10 {
        h.engine.connection_token("c").await.unwrap();
    }
    assert_eq!(h.stub.count("/token"), 2);
}

/// The lead time is the margin for long-lived tokens and half the lifetime for short
/// ones; a token whose expiry is not after it was obtained has none.
#[tokio::test]
async fn the_refresh_lead_is_the_margin_or_half_the_lifetime() {
    let h = harness(json!({}), "", "token_refresh_margin_secs = 300").await;
    let t0 = store::now();
    let s = chrono::Duration::seconds;
    let lead = |life: i64| h.engine.refresh_lead(Some(t0), t0 + s(life));
    assert_eq!(lead(3600), s(300));
    assert_eq!(lead(600), s(300));
    assert_eq!(lead(300), s(150));
    assert_eq!(lead(6), s(3));
    assert_eq!(lead(0), s(0));
    assert_eq!(lead(-5), s(0));
    assert_eq!(
        h.engine.refresh_lead(None, t0 + s(6)),
        s(300),
        "unknown age"
    );
}

/// The background refresher, passing every second, renews a connection whose tokens live
/// 10 s once per token (when half its lifetime has passed), not once per pass.
#[tokio::test]
async fn the_background_refresher_renews_short_tokens_once_per_token_not_per_pass() {
    let (h, clock) =
        on_manual_clock(harness(json!({}), "", "background_refresh_interval_secs = 1").await);
    h.stub.set(short_lived(10));
    // A connection just made, its token living 10 s, scheduled as the engine does.
    let mut c = conn("c", "it", "oauth2", Some(10));
    c.next_refresh_at = h.engine.next_refresh(c.expires_at, true);
    put(
        &h.engine,
        &c,
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = h.engine.clone();
    let task = tokio::spawn(async move {
        e.run_background_refresher(async {
            let _ = rx.await;
        })
        .await;
    });
    // 120 s in steps of 1.2 s (at least one pass per step): about 120 passes.
    let mut started = 1;
    for _ in 0..100 {
        clock.until_sleeps_started(started).await;
        started = clock.sleeps_started() + 1;
        clock.advance(Duration::from_millis(1200));
    }
    clock.until_sleeps_started(started).await;
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the refresher stops on shutdown")
        .unwrap();
    let refreshes = h.stub.count("/token");
    // Each token is renewed after 45 to 50 % of its 10 s (plus up to one 1.2 s pass):
    // 120 s / 4.5..6.2 s = 19..27 renewals. The margin alone would renew at every pass.
    assert!(
        (18..=28).contains(&refreshes),
        "{refreshes} refreshes over 120 s of 10 s tokens"
    );
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
}

/// "rotating": a refresh answer without a new refresh token keeps the old one and says
/// so: an audit row (once per integration in this process) and a warning.
#[tokio::test]
async fn a_rotating_provider_without_a_new_refresh_token_is_reported_and_the_old_kept() {
    let h = harness(
        json!({"oauth2": {"token_response": {"refresh_tokens": "rotating"}}}),
        "",
        "",
    )
    .await;
    h.stub.set(without_refresh_token);
    expiring(&h, "c", -1).await;
    expiring(&h, "d", -1).await;
    h.engine.connection_token("c").await.unwrap();
    h.engine.force_refresh("c").await.unwrap();
    h.engine.connection_token("d").await.unwrap();
    assert_eq!(h.stub.count("/token"), 3);
    assert_eq!(stored_creds(&h, "c").await["refresh_token"], "old-rt");
    assert_eq!(stored_creds(&h, "c").await["access_token"], "at-new");
    let rows: Vec<_> = all_audit(&h.store)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "connection.refresh_token_not_rotated")
        .collect();
    assert_eq!(rows.len(), 1, "once per integration");
    assert_eq!(rows[0].entry.target, "c");
    assert_eq!(rows[0].entry.details["provider"], "p");
    // A rotating provider that does rotate: nothing reported.
    let h = harness(
        json!({"oauth2": {"token_response": {"refresh_tokens": "rotating"}}}),
        "",
        "",
    )
    .await;
    expiring(&h, "c", -1).await;
    h.engine.connection_token("c").await.unwrap();
    assert!(
        stored_creds(&h, "c").await["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("rt-")
    );
    assert!(
        !all_audit(&h.store)
            .await
            .iter()
            .any(|r| r.entry.action == "connection.refresh_token_not_rotated")
    );
}

/// "reused": a refresh answer without a refresh token keeps the old one, quietly.
#[tokio::test]
async fn a_reused_provider_keeps_the_refresh_token_it_omits() {
    let h = harness(
        json!({"oauth2": {"token_response": {"refresh_tokens": "reused"}}}),
        "",
        "",
    )
    .await;
    h.stub.set(without_refresh_token);
    expiring(&h, "c", -1).await;
    h.engine.connection_token("c").await.unwrap();
    h.engine.force_refresh("c").await.unwrap();
    assert_eq!(h.stub.count("/token"), 2);
    let creds = stored_creds(&h, "c").await;
    assert_eq!(creds["refresh_token"], "old-rt");
    assert_eq!(creds["access_token"], "at-new");
    let second = h.stub.reqs("/token")[1].form();
    assert_eq!(second["refresh_token"], "old-rt", "the kept one is used");
    assert!(
        !all_audit(&h.store)
            .await
            .iter()
            .any(|r| r.entry.action == "connection.refresh_token_not_rotated")
    );
}

/// "none": no refresh is ever attempted. A token still valid is served (even within the
/// margin); a forced refresh is refused with a clear error; an expired token makes the
/// connection needs_reauth without a request; the background refresher leaves it.
#[tokio::test]
async fn a_provider_without_refresh_tokens_is_never_asked_for_a_refresh() {
    let h = harness(
        json!({"oauth2": {"token_response": {"refresh_tokens": "none"}}}),
        "",
        "",
    )
    .await;
    expiring(&h, "valid", 10).await;
    let t = h.engine.connection_token("valid").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("old-at"));
    let e = h.engine.force_refresh("valid").await.unwrap_err();
    match &e {
        EngineError::Invalid { message, .. } => {
            assert!(message.contains("issues no refresh tokens"), "{message}");
            assert!(message.contains("connect flow"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mut due = conn("due", "it", "oauth2", Some(10));
    due.next_refresh_at = Some(store::now() - chrono::Duration::seconds(1));
    put(
        &h.engine,
        &due,
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    h.engine.refresh_due().await.unwrap();
    assert_eq!(h.stub.count("/token"), 0);

    expiring(&h, "expired", -1).await;
    let e = h.engine.connection_token("expired").await.unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::ConnectionState {
                status: ConnectionStatus::NeedsReauth,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(h.stub.count("/token"), 0, "no request was made");
    let c = h.store.get_connection("expired").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::NeedsReauth);
    assert!(
        c.last_error
            .as_deref()
            .is_some_and(|m| m.contains("issues no refresh tokens")),
        "{c:?}"
    );
    let valid = h.store.get_connection("valid").await.unwrap().unwrap();
    assert_eq!(valid.status, ConnectionStatus::Active);
}
