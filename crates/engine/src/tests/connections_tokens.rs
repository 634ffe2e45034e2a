//! Handing out tokens and refreshing them exactly once: in one process, across two
//! processes on one database, under failures, fencing and in the background.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use store::{ConnectionStatus, ConnectionStore, EventStore, RefreshCommit};
use tokio::sync::Notify;

use super::connections::{
    H, Resp, Stub, config, conn, default_route, engine_with, harness, harness_with, integration,
    provider, put, seal, stored_creds,
};
use super::{TempDb, all_audit, key, on_clock, ring};
use crate::EngineError;

/// Waits until `waiting` sleeps on `clock`, and checks that it has not finished. A
/// caller polls for a lease holder's result on the engine's clock (at most every
/// 250 ms): once it sleeps it has found the lease taken, and it cannot finish before
/// the clock moves.
async fn still_waiting<T>(clock: &crate::ManualClock, waiting: &tokio::task::JoinHandle<T>) {
    tokio::time::timeout(Duration::from_secs(10), clock.until_sleeping(1))
        .await
        .expect("the caller never waited for the lease holder");
    assert!(
        !waiting.is_finished(),
        "the caller waits for the lease holder"
    );
}

/// The harness with its engine on a manual clock, and the clock.
fn on_manual_clock(mut h: H) -> (H, crate::ManualClock) {
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    (h, clock)
}

/// A connection `id` of `it` whose token expires in `secs`.
async fn expiring(h: &H, id: &str, secs: i64) {
    put(
        &h.engine,
        &conn(id, "it", "oauth2", Some(secs)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
}

fn failing(status: u16) -> impl Fn(&super::connections::Req) -> Resp + Send + Sync + 'static {
    move |r| match r.path.as_str() {
        "/token" => Resp::json(status, json!({"error": "temporarily_unavailable"})),
        _ => default_route(r),
    }
}

#[tokio::test]
async fn fresh_tokens_are_served_and_due_ones_refreshed_once() {
    let h = harness(json!({}), "", "").await;
    expiring(&h, "fresh", 3600).await;
    let t = h.engine.connection_token("fresh").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("old-at"));
    assert_eq!(t.token_type.as_deref(), Some("Bearer"));
    assert!(!format!("{t:?}").contains("old-at"));
    assert_eq!(h.stub.count("/token"), 0);

    expiring(&h, "due", 100).await;
    let v0 = h
        .store
        .get_connection("due")
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let t = h.engine.connection_token("due").await.unwrap();
    let at = t.access_token.clone().unwrap();
    assert!(at.starts_with("at-"), "{at}");
    assert_eq!(h.stub.count("/token"), 1);
    let f = h.stub.reqs("/token")[0].form();
    assert_eq!(f["grant_type"], "refresh_token");
    assert_eq!(f["refresh_token"], "old-rt");
    let c = h.store.get_connection("due").await.unwrap().unwrap();
    assert_eq!(c.token_version, v0 + 1);
    assert!(c.last_refresh_at.is_some());
    assert!(c.next_refresh_at.unwrap() > Utc::now());
    // Served again without a call.
    let again = h.engine.connection_token("due").await.unwrap();
    assert_eq!(again.access_token.as_deref(), Some(at.as_str()));
    assert_eq!(h.stub.count("/token"), 1);

    let e = h.engine.connection_token("nope").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_callers_cause_one_refresh() {
    let h = harness(json!({}), "", "").await;
    h.stub
        .set(|r| default_route(r).delayed(Duration::from_millis(200)));
    expiring(&h, "c", 60).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let e = h.engine.clone();
        tasks.push(tokio::spawn(async move {
            e.connection_token("c")
                .await
                .unwrap()
                .access_token
                .clone()
                .unwrap()
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert_eq!(h.stub.count("/token"), 1);
    assert!(
        tokens
            .iter()
            .all(|t| t == &tokens[0] && t.starts_with("at-"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_engines_on_one_database_cause_one_refresh() {
    let db = TempDb::new();
    let stub = Stub::start(|r| default_route(r).delayed(Duration::from_millis(300))).await;
    let p = provider("p", &stub.base, json!({}));
    let keyring = ring(&key(), &[]);
    let mk = |s: store_sqlite::SqliteStore| {
        engine_with(
            Arc::new(s),
            keyring.clone(),
            std::slice::from_ref(&p),
            config("", &integration("it", "p", "")),
            true,
        )
    };
    let a = mk(db.store().await);
    let b = mk(db.store().await);
    put(
        &a,
        &conn("c", "it", "oauth2", Some(60)),
        json!({"access_token": "old-at", "refresh_token": "old-rt"}),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let e = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            e.connection_token("c")
                .await
                .unwrap()
                .access_token
                .clone()
                .unwrap()
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert_eq!(stub.count("/token"), 1, "one refresh at the provider");
    assert!(
        tokens
            .iter()
            .all(|t| t == &tokens[0] && t.starts_with("at-")),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn invalid_grant_needs_reauth_with_an_event_and_an_audit_row() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(400, json!({"error": "invalid_grant"})),
        _ => default_route(r),
    });
    expiring(&h, "c", 60).await;
    let e = h.engine.connection_token("c").await.unwrap_err();
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
    let c = h.engine.get_connection("c").await.unwrap();
    assert_eq!(c.status, ConnectionStatus::NeedsReauth);
    let events = h.store.list_events(Some("it"), None, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.event_type.as_deref(), Some("connection.needs_reauth"));
    assert_eq!(ev.scheme, "internal");
    assert_eq!(ev.connection_id.as_deref(), Some("c"));
    let body: serde_json::Value = serde_json::from_slice(&ev.body).unwrap();
    assert_eq!(body["data"]["connection_id"], "c");
    assert_eq!(body["data"]["end_user_id"], "u1");
    let audit = all_audit(&h.store).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "connection.needs_reauth")
        .unwrap();
    assert_eq!(row.entry.details["event"], ev.id.as_str());
    // From now on: no token, no call.
    let e = h.engine.connection_token("c").await.unwrap_err();
    assert!(matches!(e, EngineError::ConnectionState { .. }));
    assert_eq!(h.stub.count("/token"), 1);
}

#[tokio::test]
async fn an_outage_serves_the_valid_token_and_backs_off() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(failing(503));
    expiring(&h, "c", 120).await;
    let t = h.engine.connection_token("c").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("old-at"));
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.refresh_failures, 1);
    assert!(c.last_error.unwrap().contains("unavailable"));
    assert!(c.next_refresh_at.unwrap() > Utc::now() + chrono::Duration::seconds(20));
    assert_eq!(h.stub.count("/token"), 1);
    // Backoff: no new call.
    let t = h.engine.connection_token("c").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("old-at"));
    assert_eq!(h.stub.count("/token"), 1);
    let audit = all_audit(&h.store).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "connection.refresh_failed")
        .unwrap();
    assert_eq!(row.entry.details["failures"], 1);
    assert_eq!(row.entry.details["error"], "provider_unavailable");
}

#[tokio::test]
async fn an_outage_with_an_expired_token_is_unavailable() {
    let (h, clock) = on_manual_clock(harness(json!({}), "", "").await);
    h.stub.set(failing(503));
    expiring(&h, "c", -10).await;
    // Without a valid token the refresh is retried a little, with pauses on the clock.
    let e = on_clock(
        &clock,
        Duration::from_millis(250),
        h.engine.connection_token("c"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::ProviderUnavailable(_)), "{e:?}");
    let calls = h.stub.count("/token");
    assert!((1..=3).contains(&calls), "{calls}");
    // For two seconds after the failure: failing fast, without a call.
    let failed_at = h
        .store
        .get_connection("c")
        .await
        .unwrap()
        .unwrap()
        .updated_at;
    let since = (clock.now() - failed_at).to_std().unwrap();
    clock.advance(Duration::from_millis(1999) - since);
    let e = h.engine.connection_token("c").await.unwrap_err();
    assert!(e.to_string().contains("last refresh failed"), "{e}");
    assert_eq!(h.stub.count("/token"), calls);
    // The provider is back: after the short pause, a refresh succeeds.
    h.stub.set(default_route);
    clock.advance(Duration::from_millis(1));
    let t = h.engine.connection_token("c").await.unwrap();
    assert!(t.access_token.clone().unwrap().starts_with("at-"));
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.refresh_failures, 0);
    assert_eq!(c.last_error, None);
}

#[tokio::test]
async fn force_refresh_refusals_and_connection_states() {
    let h = harness(json!({}), "", "").await;
    put(
        &h.engine,
        &conn("k", "it", "api_key", None),
        json!({"api_key": "secret-key"}),
    )
    .await;
    let e = h.engine.force_refresh("k").await.unwrap_err();
    assert!(
        matches!(e, EngineError::Invalid { field: "id", .. }),
        "{e:?}"
    );
    let t = h.engine.connection_token("k").await.unwrap();
    assert_eq!(t.api_key.as_deref(), Some("secret-key"));
    assert_eq!(t.token_type, None);

    expiring(&h, "r", 3600).await;
    h.store.revoke_connection("r", store::now()).await.unwrap();
    let e = h.engine.force_refresh("r").await.unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::ConnectionState {
                status: ConnectionStatus::Revoked,
                ..
            }
        ),
        "{e:?}"
    );
    let e = h.engine.connection_token("r").await.unwrap_err();
    assert!(e.to_string().contains("disconnected"), "{e}");

    expiring(&h, "x", 3600).await;
    h.store
        .set_connection_status("x", ConnectionStatus::Error, Some("broken"), store::now())
        .await
        .unwrap();
    let e = h.engine.connection_token("x").await.unwrap_err();
    assert!(e.to_string().contains("last_error"), "{e}");

    let e = h.engine.force_refresh("nope").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));

    // No refresh token: the grant is dead.
    put(
        &h.engine,
        &conn("norefresh", "it", "oauth2", Some(3600)),
        json!({"access_token": "a"}),
    )
    .await;
    let e = h.engine.force_refresh("norefresh").await.unwrap_err();
    assert!(matches!(e, EngineError::ConnectionState { .. }), "{e:?}");
    assert_eq!(h.stub.count("/token"), 0);

    // A forced refresh of a healthy connection.
    expiring(&h, "ok", 3600).await;
    let out = h.engine.force_refresh("ok").await.unwrap();
    assert!(out.refreshed);
    assert_eq!(out.connection.status, ConnectionStatus::Active);
    assert!(
        stored_creds(&h, "ok").await["access_token"]
            .as_str()
            .unwrap()
            .starts_with("at-")
    );
}

#[tokio::test]
async fn credentials_are_bound_to_their_connection() {
    let h = harness(json!({}), "", "").await;
    expiring(&h, "a", 3600).await;
    // B's row holding A's sealed credentials (a row swap in the database).
    let sealed_for_a = seal(&h.engine, "a", &json!({"access_token": "a-token"}));
    h.store
        .upsert_connection(&conn("b", "it", "oauth2", Some(3600)), &sealed_for_a)
        .await
        .unwrap();
    let e = h.engine.connection_token("b").await.unwrap_err();
    assert!(matches!(e, EngineError::Vault(_)), "{e:?}");
    assert!(!e.to_string().contains("a-token"));
    let e = h
        .engine
        .disconnect("it", "b", &crate::Actor::System)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Vault(_)), "{e:?}");
    // Sealed for b, but not JSON inside.
    let slot = store::credentials_slot("b");
    let ct = h
        .engine
        .keyring()
        .seal(
            b"not json",
            vault::Aad::new(&slot.owner, &slot.name, &slot.owner_id),
        )
        .unwrap();
    h.store
        .upsert_connection(
            &conn("b", "it", "oauth2", Some(3600)),
            &store::SealedCredentials {
                key_id: h.engine.keyring().primary().id().to_string(),
                ciphertext: ct,
            },
        )
        .await
        .unwrap();
    let e = h.engine.connection_token("b").await.unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
}

#[tokio::test]
async fn refresh_due_renews_due_active_connections() {
    // A margin longer than the tokens' life (3600 s): new connections are still not due
    // at once, only after half their tokens' lifetime.
    let h = harness(
        json!({}),
        "",
        "token_refresh_margin_secs = 4000\nbackground_refresh_concurrency = 2",
    )
    .await;
    let mut due = Vec::new();
    let mut fresh = Vec::new();
    for _ in 0..2 {
        fresh.push(super::connections::connected(&h).await);
    }
    h.stub
        .set(|r| default_route(r).delayed(Duration::from_millis(50)));
    for i in 0..3 {
        let mut c = conn(&format!("d{i}"), "it", "oauth2", Some(7200));
        c.next_refresh_at = Some(store::now() - chrono::Duration::seconds(1));
        put(
            &h.engine,
            &c,
            json!({"access_token": "old-at", "refresh_token": "old-rt"}),
        )
        .await;
        due.push(c.id);
    }
    let mut later = conn("later", "it", "oauth2", Some(86_400));
    later.next_refresh_at = Some(store::now() + chrono::Duration::hours(1));
    put(
        &h.engine,
        &later,
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let mut reauth = conn("reauth", "it", "oauth2", Some(7200));
    reauth.next_refresh_at = Some(store::now() - chrono::Duration::seconds(1));
    put(
        &h.engine,
        &reauth,
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    h.store
        .set_connection_status("reauth", ConnectionStatus::NeedsReauth, None, store::now())
        .await
        .unwrap();
    let mut k = conn("key", "it", "api_key", None);
    k.next_refresh_at = None;
    put(&h.engine, &k, json!({"api_key": "k"})).await;
    let mut versions = std::collections::BTreeMap::new();
    for id in due
        .iter()
        .chain(fresh.iter())
        .chain(["later".to_owned(), "reauth".to_owned()].iter())
    {
        let v = h
            .store
            .get_connection(id)
            .await
            .unwrap()
            .unwrap()
            .token_version;
        versions.insert(id.clone(), v);
    }

    for id in &fresh {
        let c = h.store.get_connection(id).await.unwrap().unwrap();
        let half = (c.expires_at.unwrap() - c.token_obtained_at.unwrap()) / 2;
        let next = c.next_refresh_at.unwrap();
        assert!(
            next >= c.token_obtained_at.unwrap() + half * 9 / 10
                && next <= c.expires_at.unwrap() - half,
            "{id}: renewed at half its lifetime, less up to 10 % jitter: {c:?}"
        );
    }
    let n = h.engine.refresh_due().await.unwrap();
    assert_eq!(n, 3);
    let refreshes = h
        .stub
        .reqs("/token")
        .iter()
        .filter(|r| r.form()["grant_type"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 3);
    for id in &due {
        let c = h.store.get_connection(id).await.unwrap().unwrap();
        assert_eq!(c.token_version, versions[id] + 1, "{id}");
        assert!(c.last_refresh_at.is_some());
    }
    for id in fresh.iter().map(String::as_str).chain(["later", "reauth"]) {
        let c = h.store.get_connection(id).await.unwrap().unwrap();
        assert_eq!(c.token_version, versions[id], "{id}");
    }
}

#[tokio::test]
async fn the_background_refresher_runs_until_shutdown() {
    let (h, clock) =
        on_manual_clock(harness(json!({}), "", "background_refresh_interval_secs = 1").await);
    expiring(&h, "c", 30).await;
    let v0 = h
        .store
        .get_connection("c")
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = h.engine.clone();
    let task = tokio::spawn(async move {
        e.run_background_refresher(async {
            let _ = rx.await;
        })
        .await;
    });
    // It pauses 0.8 to 1.2 s between passes: nothing before the clock moves.
    clock.until_sleeping(1).await;
    assert_eq!(h.stub.count("/token"), 0);
    clock.advance(Duration::from_millis(1200));
    // After the pass it pauses again.
    clock.until_sleeps_started(2).await;
    assert_eq!(h.stub.count("/token"), 1, "one background refresh");
    assert!(!task.is_finished());
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("the refresher stops on shutdown")
        .unwrap();
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.token_version, v0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fenced_out_refresh_does_not_overwrite_newer_tokens() {
    let h = harness(json!({}), "", "").await;
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    h.stub.set(move |r| default_route(r).gated(g.clone()));
    expiring(&h, "c", 3600).await;
    let v0 = h
        .store
        .get_connection("c")
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let e = h.engine.clone();
    let refresh = tokio::spawn(async move { e.force_refresh("c").await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.stub.count("/token") == 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Another process takes the lease over (the engine's looks expired to it) and
    // commits newer tokens.
    let later = store::now() + chrono::Duration::hours(1);
    let lease = h
        .store
        .acquire_refresh_lease("c", later, later + chrono::Duration::seconds(90))
        .await
        .unwrap()
        .expect("lease taken over");
    let commit = RefreshCommit {
        credentials: Some(seal(
            &h.engine,
            "c",
            &json!({"access_token": "newer-at", "refresh_token": "newer-rt"}),
        )),
        expires_at: Some(store::now() + chrono::Duration::hours(2)),
        scopes: vec!["read".into()],
        status: ConnectionStatus::Active,
        last_error: None,
        last_refresh_at: Some(store::now()),
        refresh_failures: 0,
        next_refresh_at: None,
        at: store::now(),
    };
    assert!(
        h.store
            .commit_refresh("c", lease.fence, &commit)
            .await
            .unwrap()
    );
    gate.notify_one();
    let out = refresh.await.unwrap().unwrap();
    assert!(!out.refreshed, "the engine's result was discarded");
    let creds = stored_creds(&h, "c").await;
    assert_eq!(creds["access_token"], "newer-at");
    assert_eq!(creds["refresh_token"], "newer-rt");
    assert_eq!(
        h.store
            .get_connection("c")
            .await
            .unwrap()
            .unwrap()
            .token_version,
        v0 + 1
    );
}

#[tokio::test]
async fn client_credentials_connections_refresh_with_their_grant() {
    let stub = Stub::start(default_route).await;
    let p = provider(
        "cc",
        &stub.base,
        json!({"auth_mode": "client_credentials", "oauth2": {"authorization_url": null, "scope_separator": ","}}),
    );
    let h = harness_with(
        stub,
        vec![p],
        &integration("it", "cc", "scopes = [\"a\", \"b\"]"),
        "",
    )
    .await;
    let mut c = conn("cc1", "it", "client_credentials", Some(60));
    c.provider = "cc".into();
    put(&h.engine, &c, json!({"access_token": "old-cc"})).await;
    let t = h.engine.connection_token("cc1").await.unwrap();
    assert!(t.access_token.clone().unwrap().starts_with("cc-"));
    let f = h.stub.reqs("/token")[0].form();
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["scope"], "a,b");
    let row = h.store.get_connection("cc1").await.unwrap().unwrap();
    assert!(
        row.next_refresh_at.is_some(),
        "client credentials renew without a refresh token"
    );
}

/// A valid commit of `creds` with `status`, as another process would write it.
fn other_commit(
    h: &H,
    id: &str,
    creds: serde_json::Value,
    status: ConnectionStatus,
    expires_in: i64,
) -> RefreshCommit {
    RefreshCommit {
        credentials: Some(seal(&h.engine, id, &creds)),
        expires_at: Some(store::now() + chrono::Duration::seconds(expires_in)),
        scopes: vec!["read".into()],
        status,
        last_error: None,
        last_refresh_at: Some(store::now()),
        refresh_failures: 0,
        next_refresh_at: None,
        at: store::now(),
    }
}

async fn hold_lease(h: &H, id: &str) -> store::Lease {
    let now = store::now();
    h.store
        .acquire_refresh_lease(id, now, now + chrono::Duration::seconds(600))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_waits_for_the_lease_holder_of_another_process() {
    let (h, clock) = on_manual_clock(harness(json!({}), "", "").await);

    // The holder commits newer tokens: the waiting caller uses them.
    expiring(&h, "a", 100).await;
    let lease = hold_lease(&h, "a").await;
    let e = h.engine.clone();
    let waiting = tokio::spawn(async move { e.connection_token("a").await });
    still_waiting(&clock, &waiting).await;
    let commit = other_commit(
        &h,
        "a",
        json!({"access_token": "theirs", "refresh_token": "r2"}),
        ConnectionStatus::Active,
        3600,
    );
    assert!(
        h.store
            .commit_refresh("a", lease.fence, &commit)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_millis(250));
    let t = waiting.await.unwrap().unwrap();
    assert_eq!(t.access_token.as_deref(), Some("theirs"));

    // The same for a forced refresh.
    expiring(&h, "f", 3600).await;
    let lease = hold_lease(&h, "f").await;
    let e = h.engine.clone();
    let waiting = tokio::spawn(async move { e.force_refresh("f").await });
    still_waiting(&clock, &waiting).await;
    let commit = other_commit(
        &h,
        "f",
        json!({"access_token": "theirs-f"}),
        ConnectionStatus::Active,
        3600,
    );
    assert!(
        h.store
            .commit_refresh("f", lease.fence, &commit)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_millis(250));
    let out = waiting.await.unwrap().unwrap();
    assert!(!out.refreshed);
    assert_eq!(stored_creds(&h, "f").await["access_token"], "theirs-f");

    // The holder finds the grant dead.
    expiring(&h, "d", 100).await;
    let lease = hold_lease(&h, "d").await;
    let e = h.engine.clone();
    let waiting = tokio::spawn(async move { e.connection_token("d").await });
    still_waiting(&clock, &waiting).await;
    let commit = other_commit(
        &h,
        "d",
        json!({"access_token": "x"}),
        ConnectionStatus::NeedsReauth,
        100,
    );
    assert!(
        h.store
            .commit_refresh("d", lease.fence, &commit)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_millis(250));
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ConnectionState {
                status: ConnectionStatus::NeedsReauth,
                ..
            }
        ),
        "{err:?}"
    );

    // A reconnect drops the lease while the caller waits: the caller takes the lease,
    // sees the new credentials version and uses them without calling the provider.
    expiring(&h, "r", 100).await;
    hold_lease(&h, "r").await;
    let e = h.engine.clone();
    let waiting = tokio::spawn(async move { e.connection_token("r").await });
    still_waiting(&clock, &waiting).await;
    let c = conn("r", "it", "oauth2", Some(100));
    h.store
        .upsert_connection(
            &c,
            &seal(
                &h.engine,
                "r",
                &json!({"access_token": "reconnected", "refresh_token": "rr"}),
            ),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_millis(250));
    let t = waiting.await.unwrap().unwrap();
    assert_eq!(t.access_token.as_deref(), Some("reconnected"));
    assert_eq!(h.stub.count("/token"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_held_too_long_serves_a_valid_token_or_fails() {
    let (h, clock) = on_manual_clock(
        harness(
            json!({}),
            "",
            "outbound_timeout_secs = 1\nrefresh_lease_secs = 10",
        )
        .await,
    );
    expiring(&h, "valid", 100).await;
    expiring(&h, "expired", -5).await;
    hold_lease(&h, "valid").await;
    hold_lease(&h, "expired").await;
    // They wait for the holder as long as a refresh may take (lease + timeout, 11 s),
    // polling on the engine's clock.
    let (e1, e2) = (h.engine.clone(), h.engine.clone());
    let a = tokio::spawn(async move { e1.connection_token("valid").await });
    let b = tokio::spawn(async move { e2.connection_token("expired").await });
    clock.until_sleeping(2).await;
    let n = clock.sleeps_started();
    clock.advance(Duration::from_millis(10_999));
    clock.until_sleeps_started(n + 2).await;
    assert!(
        !a.is_finished() && !b.is_finished(),
        "still waiting at 10.999 s"
    );
    clock.advance(Duration::from_millis(250));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a.unwrap().access_token.as_deref(), Some("old-at"));
    let e = b.unwrap_err();
    assert!(e.to_string().contains("taking too long"), "{e}");
    assert_eq!(h.stub.count("/token"), 0);
}

#[tokio::test]
async fn repeated_failures_are_audited_at_powers_of_two() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(failing(503));
    expiring(&h, "c", 3600).await;
    for _ in 0..4 {
        let e = h.engine.force_refresh("c").await.unwrap_err();
        assert!(matches!(e, EngineError::ProviderUnavailable(_)));
    }
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.refresh_failures, 4);
    let audited: Vec<u64> = all_audit(&h.store)
        .await
        .iter()
        .filter(|r| r.entry.action == "connection.refresh_failed")
        .map(|r| r.entry.details["failures"].as_u64().unwrap())
        .collect();
    assert_eq!(audited, vec![1, 2, 4]);
    // A revoked status with credentials still present (set outside a disconnect).
    h.store
        .set_connection_status("c", ConnectionStatus::Revoked, None, store::now())
        .await
        .unwrap();
    let e = h.engine.force_refresh("c").await.unwrap_err();
    assert!(matches!(
        e,
        EngineError::ConnectionState {
            status: ConnectionStatus::Revoked,
            ..
        }
    ));
}

#[tokio::test]
async fn background_failures_are_kept_quiet() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(failing(400));
    let mut c = conn("c", "it", "oauth2", Some(3600));
    c.next_refresh_at = Some(store::now() - chrono::Duration::seconds(1));
    put(
        &h.engine,
        &c,
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    assert_eq!(h.engine.refresh_due().await.unwrap(), 1);
    let c = h.store.get_connection("c").await.unwrap().unwrap();
    assert_eq!(c.refresh_failures, 1);
    assert!(c.next_refresh_at.unwrap() > Utc::now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_callers_of_a_dead_grant_call_the_provider_once() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(|r| match r.path.as_str() {
        "/token" => {
            Resp::json(400, json!({"error": "invalid_grant"})).delayed(Duration::from_millis(200))
        }
        _ => default_route(r),
    });
    // Still valid, but within the refresh margin.
    expiring(&h, "c", 100).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let e = h.engine.clone();
        tasks.push(tokio::spawn(async move {
            e.connection_token("c").await.map(|_| ())
        }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, EngineError::ConnectionState { .. }), "{e:?}");
    }
    assert_eq!(
        h.stub.count("/token"),
        1,
        "the dead refresh token is sent once"
    );
    let events = h.store.list_events(Some("it"), None, 100).await.unwrap();
    assert_eq!(events.len(), 1, "one connection.needs_reauth event");
}

#[tokio::test]
async fn a_refused_refresh_shows_in_the_status_as_needs_reauth() {
    let h = harness(json!({}), "", "").await;
    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(400, json!({"error": "invalid_grant"})),
        _ => default_route(r),
    });
    expiring(&h, "c", 60).await;
    h.engine.connection_token("c").await.unwrap_err();
    let s = h.engine.status().await.unwrap();
    let it = s.integrations.iter().find(|i| i.id == "it").unwrap();
    assert_eq!(it.connections.needs_reauth, 1);
    assert_eq!(it.connections.needs_reauth_24h, 1);
    assert_eq!(it.connections.refresh_failures_24h, 1);
    assert!(it.connections.attention && s.attention);
    assert!(
        s.reasons.iter().any(|r| r.contains("went needs_reauth")),
        "{:?}",
        s.reasons
    );
}
