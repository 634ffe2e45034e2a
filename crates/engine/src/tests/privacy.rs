//! Retention (the sweep on the engine's clock, `retention purge`, replay of a purged
//! event), erasure and export of an end user, and the consent records the connection
//! flows write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::{
    ConnectionStore, ConsentKind, Event, EventStore, Mapped, PrivacyStore, PurgeReason,
    ReplayFilter, Routing,
};

use super::connections::{conn, connect, harness, put};
use super::*;
use crate::{Actor, EngineError, ManualClock};

fn cli() -> Actor {
    Actor::Cli { user: "ops".into() }
}

/// Integrations `short` (its own 1 day), `forever` (0: kept) and `plain` (the top-level
/// 3 days).
fn retention_config() -> config::Config {
    let text = r#"
payload_retention_days = 3
[[integrations]]
id = "short"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
payload_retention_days = 1
[[integrations]]
id = "forever"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
payload_retention_days = 0
[[integrations]]
id = "plain"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;
    config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

/// A routed (dropped, so done) event of `integration` received at `at`.
async fn old_event(
    s: &SqliteStore,
    n: u32,
    integration: &str,
    at: chrono::DateTime<chrono::Utc>,
    connection: Option<&str>,
) -> Event {
    let e = Event {
        id: format!("evt_{n:032x}"),
        integration: integration.into(),
        received_at: at,
        provider_event_id: None,
        event_type: Some("t".into()),
        scheme: "standard-webhooks".into(),
        headers: vec![("x-kept".into(), "HEADER-SECRET".into())],
        body: format!(r#"{{"email":"person-{n}@example.com"}}"#).into_bytes(),
        connection_id: connection.map(str::to_owned),
        routing_key: None,
    };
    let r = Routing {
        event_id: e.id.clone(),
        mapped: Mapped::Dropped,
        deliveries: vec![],
    };
    s.insert_routed_event(&e, &r).await.unwrap();
    e
}

async fn retention_engine() -> (Engine, SqliteStore, ManualClock) {
    let store = memory_store().await;
    let clock = ManualClock::starting_at(store::from_millis(1_700_000_000_000).unwrap());
    let engine = Engine::new(
        Arc::new(store.clone()),
        ring(&key(), &[]),
        retention_config(),
    )
    .with_clock(clock.clone());
    (engine, store, clock)
}

#[test]
fn selections_follow_each_integrations_retention() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (engine, _s, clock) = retention_engine().await;
        let sel = engine.retention_selections();
        let now = clock.now();
        assert_eq!(sel.len(), 2, "{sel:?}");
        assert_eq!(sel[0].integration.as_deref(), Some("short"));
        assert_eq!(sel[0].received_before, now - chrono::Duration::days(1));
        assert_eq!(sel[1].integration, None);
        assert_eq!(sel[1].except, ["short", "forever"]);
        assert_eq!(sel[1].received_before, now - chrono::Duration::days(3));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_runs_on_the_engine_clock_and_keeps_what_is_not_due() {
    let (engine, s, clock) = retention_engine().await;
    let now = clock.now();
    let day = chrono::Duration::days(1);
    let short_old = old_event(&s, 1, "short", now - day * 2, None).await;
    let short_new = old_event(&s, 2, "short", now - chrono::Duration::hours(12), None).await;
    let forever = old_event(&s, 3, "forever", now - day * 400, None).await;
    let plain_old = old_event(&s, 4, "plain", now - day * 4, None).await;
    let plain_new = old_event(&s, 5, "plain", now - day * 2, None).await;
    // An integration no longer configured follows the top-level retention.
    let gone = old_event(&s, 6, "removed", now - day * 4, None).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let task = tokio::spawn(async move {
        e.run_retention_sweep(async {
            let _ = stopped.await;
        })
        .await
    });
    // The first pass runs at once; then the sweep sleeps for its interval.
    clock.until_sleeping(1).await;
    let purged = |id: String| {
        let s = s.clone();
        async move { s.event_purge_state(&id).await.unwrap() }
    };
    for e in [&short_old, &plain_old, &gone] {
        let p = purged(e.id.clone()).await.expect("purged");
        assert_eq!((p.reason, p.at), (PurgeReason::Retention, now));
        let got = s.get_event(&e.id).await.unwrap().unwrap();
        assert!(got.body.is_empty() && got.headers.is_empty());
        assert_eq!(
            (got.event_type, got.received_at),
            (e.event_type.clone(), e.received_at)
        );
    }
    for e in [&short_new, &forever, &plain_new] {
        assert!(purged(e.id.clone()).await.is_none(), "{}", e.id);
    }
    let audit = all_audit(&s).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "retention.purge")
        .unwrap();
    assert_eq!(
        (row.entry.actor.as_str(), &row.entry.details["events"]),
        ("system", &json!(3))
    );

    // Thirteen hours later (the interval passing) the next pass takes what became due.
    let sleeps = clock.sleeps_started();
    clock.advance(Duration::from_secs(13 * 3600));
    clock.until_sleeps_started(sleeps + 1).await;
    assert!(purged(short_new.id.clone()).await.is_some());
    assert!(purged(plain_new.id.clone()).await.is_none());
    assert!(purged(forever.id.clone()).await.is_none());
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn purge_now_is_bounded_reports_more_and_a_dry_run_changes_nothing() {
    let (engine, s, clock) = retention_engine().await;
    let old = clock.now() - chrono::Duration::days(10);
    for n in 1..=5 {
        old_event(&s, n, "plain", old, None).await;
    }
    let dry = engine
        .purge_payloads(true, 100, Some(&cli()))
        .await
        .unwrap();
    assert_eq!((dry.dry_run, dry.events, dry.more), (true, 5, false));
    assert!(
        s.event_purge_state(&format!("evt_{:032x}", 1))
            .await
            .unwrap()
            .is_none()
    );
    let first = engine.purge_payloads(false, 3, Some(&cli())).await.unwrap();
    assert_eq!((first.events, first.more), (3, true));
    let second = engine.purge_payloads(false, 3, Some(&cli())).await.unwrap();
    assert_eq!((second.events, second.more), (2, false));
    let third = engine.purge_payloads(false, 3, Some(&cli())).await.unwrap();
    assert_eq!((third.events, third.more), (0, false));
    let rows: Vec<_> = all_audit(&s)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "retention.purge")
        .collect();
    assert_eq!(rows.len(), 2, "a purge that removed nothing is not audited");
    for bad in [0, crate::privacy::MAX_PURGE_LIMIT + 1] {
        assert!(matches!(
            engine.purge_payloads(false, bad, None).await,
            Err(EngineError::Invalid { field: "limit", .. })
        ));
    }
}

#[tokio::test]
async fn a_purged_event_cannot_be_replayed_and_bulk_replay_counts_it() {
    let (engine, s, clock) = retention_engine().await;
    let e = old_event(
        &s,
        1,
        "plain",
        clock.now() - chrono::Duration::days(10),
        None,
    )
    .await;
    engine.purge_payloads(false, 10, None).await.unwrap();
    let err = engine.replay_event(&e.id, false, &cli()).await.unwrap_err();
    assert_eq!(err.code(), "payload_purged");
    assert!(err.to_string().contains("retention"), "{err}");
    let count = engine
        .replay_checked(
            &ReplayFilter {
                integration: Some("plain".into()),
                ..Default::default()
            },
            false,
            false,
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!((count.events, count.skipped_purged), (0, 1));
    let detail = engine.event_detail(&e.id).await.unwrap();
    assert_eq!(detail.purged.unwrap().reason, PurgeReason::Retention);
}

#[tokio::test]
async fn erasure_takes_everything_of_the_end_user_once_and_export_shows_it_before() {
    let h = harness(json!({}), "", "").await;
    let (out, _) = connect(
        &h,
        "it",
        json!({"return_to": "https://app.example/done?x=1"}),
        Some("acct-u1"),
        BTreeMap::new(),
    )
    .await;
    assert_eq!(out.error, None);
    // Another end user's connection stays.
    let mut theirs = conn("acct-u2", "it", "oauth2", Some(3600));
    theirs.end_user_id = "u2".into();
    put(&h.engine, &theirs, json!({"access_token": "at-u2"})).await;
    let now = h.engine.now();
    let mine = old_event(&h.store, 1, "it", now, Some("acct-u1")).await;
    let other = old_event(&h.store, 2, "it", now, Some("acct-u2")).await;

    // Consent: connect, through the session and to the return origin.
    let consent = h.store.consent_records_of("u1").await.unwrap();
    assert_eq!(consent.len(), 1);
    let c = &consent[0];
    assert_eq!(
        (c.kind, c.integration.as_str()),
        (ConsentKind::Connect, "it")
    );
    assert_eq!(c.scopes_requested, ["read", "write"]);
    assert_eq!(c.scopes_granted, ["read", "write"]);
    assert_eq!(c.return_origin.as_deref(), Some("https://app.example"));
    assert!(c.connect_session.as_deref().unwrap().starts_with("cs-"));

    // Export: connections without secrets, consent, events with their payload.
    let export = h.engine.export_end_user("u1").await.unwrap();
    assert_eq!(export.connections.len(), 1);
    assert_eq!(export.events.len(), 1);
    assert_eq!(export.events[0].event.id, mine.id);
    assert!(
        export.events[0]
            .body
            .as_deref()
            .unwrap()
            .contains("person-1@")
    );
    let text = serde_json::to_string(&export).unwrap();
    assert!(!text.contains("at-") && !text.contains("rt-"), "{text}");

    // Dry run: lists, changes nothing.
    let dry = h.engine.erase_end_user("u1", true, &cli()).await.unwrap();
    assert_eq!(
        (
            dry.dry_run,
            dry.counts.connections,
            dry.counts.events,
            dry.counts.consent_records
        ),
        (true, 1, 1, 1)
    );
    assert_eq!(dry.connections[0].id, "acct-u1");
    assert!(h.store.get_connection("acct-u1").await.unwrap().is_some());
    assert!(h.store.event_purge_state(&mine.id).await.unwrap().is_none());

    let done = h.engine.erase_end_user("u1", false, &cli()).await.unwrap();
    assert!(!done.dry_run && !done.already_erased);
    assert_eq!(
        (
            done.counts.connections,
            done.counts.revoked_at_provider,
            done.counts.events
        ),
        (1, 1, 1)
    );
    assert!(h.store.get_connection("acct-u1").await.unwrap().is_none());
    assert!(
        h.store
            .get_connection_credentials("acct-u1")
            .await
            .unwrap()
            .is_none()
    );
    let e = h.store.get_event(&mine.id).await.unwrap().unwrap();
    assert!(e.body.is_empty() && e.connection_id.is_none());
    assert_eq!(
        h.store
            .event_purge_state(&mine.id)
            .await
            .unwrap()
            .unwrap()
            .reason,
        PurgeReason::Erasure
    );
    assert_eq!(
        h.store.get_event(&other.id).await.unwrap().unwrap().body,
        other.body
    );
    assert!(h.store.get_connection("acct-u2").await.unwrap().is_some());
    assert!(h.store.consent_records_of("u1").await.unwrap().is_empty());
    // The audit rows keep the keyed hash, never the end user id.
    let audit = all_audit(&h.store).await;
    let erase = audit
        .iter()
        .find(|r| r.entry.action == "end_user.erase")
        .unwrap();
    assert_eq!(erase.entry.target, format!("subject:{}", done.subject_hash));
    assert_eq!(erase.entry.details["events"], 1);
    for r in &audit {
        let row = serde_json::to_string(&r.entry.details).unwrap();
        assert!(!row.contains("\"u1\""), "{} {row}", r.entry.action);
    }
    let connect_row = audit
        .iter()
        .find(|r| r.entry.action == "connection.connect")
        .unwrap();
    assert_eq!(
        connect_row.entry.details["subject"],
        json!(done.subject_hash)
    );

    // Again: nothing left, nothing done, not an error.
    let before = all_audit(&h.store).await.len();
    let again = h.engine.erase_end_user("u1", false, &cli()).await.unwrap();
    assert!(again.already_erased);
    assert_eq!(again.counts, Default::default());
    assert_eq!(again.subject_hash, done.subject_hash);
    assert_eq!(all_audit(&h.store).await.len(), before);
    // Export now holds nothing.
    assert!(matches!(
        h.engine.export_end_user("u1").await,
        Err(EngineError::UnknownEndUser(_))
    ));
}

#[tokio::test]
async fn an_unknown_or_malformed_end_user_changes_nothing() {
    let (engine, s) = setup().await;
    for dry in [true, false] {
        let e = engine
            .erase_end_user("nobody", dry, &cli())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "end_user_not_found");
    }
    assert!(matches!(
        engine.export_end_user("nobody").await,
        Err(EngineError::UnknownEndUser(_))
    ));
    for bad in ["", "a\u{7}b"] {
        assert!(matches!(
            engine.erase_end_user(bad, false, &cli()).await,
            Err(EngineError::Invalid {
                field: "end_user_id",
                ..
            })
        ));
    }
    assert!(all_audit(&s).await.is_empty());
}

#[tokio::test]
async fn disconnect_and_reconnect_are_consent_records() {
    let h = harness(json!({}), "", "").await;
    let id = super::connections::connected(&h).await;
    h.engine.disconnect("it", &id, &cli()).await.unwrap();
    let (out, _) = connect(&h, "it", json!({}), Some(&id), BTreeMap::new()).await;
    assert_eq!(out.error, None);
    let kinds: Vec<ConsentKind> = h
        .store
        .consent_records_of("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ConsentKind::Connect,
            ConsentKind::Revoke,
            ConsentKind::Reconnect
        ]
    );
}

#[tokio::test]
async fn the_subject_hash_is_keyed_stable_and_not_a_plain_digest() {
    use sha2::Digest as _;
    let (engine, _s) = setup().await;
    let a = engine.subject_hash("u42").await.unwrap();
    assert_eq!(a, engine.subject_hash("u42").await.unwrap());
    assert_ne!(a, engine.subject_hash("u43").await.unwrap());
    assert_eq!(a.len(), 64);
    assert_ne!(a, hex::encode(sha2::Sha256::digest(b"u42")));
    // Another deployment (its own salt) hashes differently.
    let (other, _s2) = setup().await;
    assert_ne!(a, other.subject_hash("u42").await.unwrap());
}
