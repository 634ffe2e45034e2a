//! The admin console's sessions: sign-in with an API key, idle and absolute ends on the
//! manual clock, revoked keys, sign-out, purging, CSRF tokens and the overview's hours.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use store::{AuditStore as _, ConsoleSessionRecord, ConsoleStore as _, Scope};
use store_sqlite::SqliteStore;
use vault::{ExposeSecret as _, SecretString};

use super::connections::{config, engine_with, integration};
use super::{key, memory_store, ring};
use crate::activity::Kind;
use crate::console::{SIGN_IN_AGAIN, csrf_matches, csrf_token, p95};
use crate::ids::token_hash;
use crate::{Actor, Engine, EngineError, ManualClock};

fn cli() -> Actor {
    Actor::Cli {
        user: "alice".into(),
    }
}

/// An engine whose sessions end after 60 s unused or 300 s in all.
async fn setup() -> (Engine, SqliteStore, ManualClock) {
    let store = memory_store().await;
    let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap());
    let engine = engine_with(
        Arc::new(store.clone()),
        ring(&key(), &[]),
        &[],
        config(
            "[console]\nsession_idle_secs = 60\nsession_absolute_secs = 300\n",
            &integration("it", "p", ""),
        ),
        true,
    )
    .with_clock(clock.clone());
    (engine, store, clock)
}

async fn actions(store: &SqliteStore) -> Vec<(String, String)> {
    store
        .list_audit_asc(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action.starts_with("console."))
        .map(|r| (r.entry.actor, r.entry.action))
        .collect()
}

async fn admin_session(engine: &Engine) -> (String, String) {
    let k = engine
        .create_api_key("ops laptop", Scope::Admin, &cli())
        .await
        .unwrap();
    let new = engine.console_sign_in_with_key(&k.key).await.unwrap();
    (k.info.id, new.token.expose_secret().to_owned())
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn assert_refused<T: std::fmt::Debug>(r: Result<T, EngineError>) {
    match r {
        Err(EngineError::Unauthenticated(m)) => assert_eq!(m, SIGN_IN_AGAIN),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_admin_key_signs_in_and_the_session_is_recognised() {
    let (engine, store, clock) = setup().await;
    let k = engine
        .create_api_key("ops laptop", Scope::Admin, &cli())
        .await
        .unwrap();
    let new = engine.console_sign_in_with_key(&k.key).await.unwrap();
    let token = new.token.expose_secret().to_owned();
    assert_eq!(token.len(), 43);
    let who = Actor::ApiKey {
        id: k.info.id.clone(),
    };
    assert_eq!(new.session.user.actor, who);
    assert_eq!(new.session.user.display_name, "ops laptop");
    assert_eq!(
        new.session.expires_at,
        clock.now() + chrono::Duration::seconds(300)
    );
    assert_eq!(new.session.csrf_token, csrf_token(&token));

    // Only the hash is stored.
    let row = store
        .get_console_session(&token_hash(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.api_key_id.as_deref(), Some(k.info.id.as_str()));
    assert_eq!(row.actor, who.to_string());
    assert_eq!(row.created_at, clock.now());

    let got = engine.console_session(&token).await.unwrap();
    assert_eq!(got.user, new.session.user);
    assert_eq!(got.csrf_token, new.session.csrf_token);
    assert_eq!(got.expires_at, new.session.expires_at);

    let audit = store.list_audit_asc(0, 100).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.entry.action, "console.sign_in");
    assert_eq!(last.entry.actor, who.to_string());
    assert_eq!(last.entry.details, serde_json::json!({"method": "api_key"}));
}

#[tokio::test]
async fn app_keys_and_bad_keys_do_not_sign_in() {
    let (engine, store, _) = setup().await;
    let app = engine
        .create_api_key("an app", Scope::App, &cli())
        .await
        .unwrap();
    let e = engine.console_sign_in_with_key(&app.key).await.unwrap_err();
    assert!(matches!(e, EngineError::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("admin API key"), "{e}");
    let e = engine
        .console_sign_in_with_key(&SecretString::from("sb_not-a-key".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Unauthenticated(_)), "{e}");
    let admin = engine
        .create_api_key("revoked", Scope::Admin, &cli())
        .await
        .unwrap();
    engine.revoke_api_key(&admin.info.id, &cli()).await.unwrap();
    let e = engine
        .console_sign_in_with_key(&admin.key)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Unauthenticated(_)), "{e}");
    assert!(actions(&store).await.is_empty());
}

#[tokio::test]
async fn unknown_empty_and_overlong_session_ids_are_refused() {
    let (engine, _, _) = setup().await;
    admin_session(&engine).await;
    assert_refused(engine.console_session("").await);
    assert_refused(engine.console_session(&"a".repeat(129)).await);
    assert_refused(engine.console_session(&"a".repeat(43)).await);
}

#[tokio::test]
async fn a_session_unused_for_the_idle_time_ends_and_its_row_goes() {
    let (engine, store, clock) = setup().await;
    let (_, token) = admin_session(&engine).await;
    let hash = token_hash(&token);
    let start = clock.now();
    let last_seen = async || {
        store
            .get_console_session(&hash)
            .await
            .unwrap()
            .map(|r| r.last_seen_at)
    };

    // Uses within half the idle time are not written...
    clock.advance(s(29));
    engine.console_session(&token).await.unwrap();
    assert_eq!(last_seen().await, Some(start));
    // ...the one after is, and keeps the session alive.
    clock.advance(s(1));
    engine.console_session(&token).await.unwrap();
    assert_eq!(last_seen().await, Some(clock.now()));
    clock.advance(s(59));
    engine.console_session(&token).await.unwrap();

    // 60 s unused: ended, and the row is removed.
    clock.advance(s(60));
    assert_refused(engine.console_session(&token).await);
    assert_eq!(last_seen().await, None);
    assert_refused(engine.console_session(&token).await);
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_time_however_busy() {
    let (engine, store, clock) = setup().await;
    let (_, token) = admin_session(&engine).await;
    for _ in 0..5 {
        clock.advance(s(59));
        engine.console_session(&token).await.unwrap();
    }
    // 295 s in; at 300 it ends.
    clock.advance(s(5));
    assert_refused(engine.console_session(&token).await);
    assert!(
        store
            .get_console_session(&token_hash(&token))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn revoking_or_deleting_the_key_ends_its_sessions() {
    let (engine, store, _) = setup().await;
    let (id, token) = admin_session(&engine).await;
    let (_, other) = admin_session(&engine).await;
    engine.revoke_api_key(&id, &cli()).await.unwrap();
    assert_refused(engine.console_session(&token).await);
    assert!(
        store
            .get_console_session(&token_hash(&token))
            .await
            .unwrap()
            .is_none()
    );
    // Another key's session goes on.
    engine.console_session(&other).await.unwrap();

    // A session whose key no longer exists ends too.
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
    let orphan = "o".repeat(43);
    store
        .insert_console_session(&ConsoleSessionRecord {
            id_hash: token_hash(&orphan),
            actor: "api-key:gone".into(),
            display_name: "gone".into(),
            api_key_id: Some("gone".into()),
            created_at: now,
            last_seen_at: now,
            expires_at: now + chrono::Duration::seconds(300),
        })
        .await
        .unwrap();
    assert_refused(engine.console_session(&orphan).await);
}

#[tokio::test]
async fn oidc_sessions_read_back_and_a_corrupt_actor_is_an_error() {
    let (engine, store, clock) = setup().await;
    let now = clock.now();
    let row = |actor: &str, token: &str| ConsoleSessionRecord {
        id_hash: token_hash(token),
        actor: actor.into(),
        display_name: "Ada".into(),
        api_key_id: None,
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::seconds(300),
    };
    let (good, bad) = ("g".repeat(43), "b".repeat(43));
    store
        .insert_console_session(&row("oidc:ada@example.com", &good))
        .await
        .unwrap();
    store
        .insert_console_session(&row("cli:alice", &bad))
        .await
        .unwrap();
    let got = engine.console_session(&good).await.unwrap();
    assert_eq!(
        got.user.actor,
        Actor::Oidc {
            email: "ada@example.com".into()
        }
    );
    assert_eq!(got.user.display_name, "Ada");
    let e = engine.console_session(&bad).await.unwrap_err();
    assert!(matches!(e, EngineError::Store(_)), "{e}");

    // Signing out the OIDC session is audited under its user.
    engine
        .console_sign_out(&SecretString::from(good.clone()))
        .await
        .unwrap();
    assert_eq!(
        actions(&store).await,
        vec![(
            "oidc:ada@example.com".to_owned(),
            "console.sign_out".to_owned()
        )]
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_once_and_is_audited_once() {
    let (engine, store, _) = setup().await;
    let (id, token) = admin_session(&engine).await;
    let secret = SecretString::from(token.clone());
    engine.console_sign_out(&secret).await.unwrap();
    assert_refused(engine.console_session(&token).await);
    // Again, or with nothing to end: no error, nothing audited.
    engine.console_sign_out(&secret).await.unwrap();
    for t in [String::new(), "x".repeat(129), "y".repeat(43)] {
        engine
            .console_sign_out(&SecretString::from(t))
            .await
            .unwrap();
    }
    let actor = format!("api-key:{id}");
    assert_eq!(
        actions(&store).await,
        vec![
            (actor.clone(), "console.sign_in".to_owned()),
            (actor, "console.sign_out".to_owned()),
        ]
    );
}

#[tokio::test]
async fn purging_removes_only_ended_sessions() {
    let (engine, store, clock) = setup().await;
    let (_, old) = admin_session(&engine).await;
    clock.advance(s(40));
    let (_, fresh) = admin_session(&engine).await;
    clock.advance(s(25));
    // `old` is 65 s unused, `fresh` 25 s.
    assert_eq!(engine.purge_console_sessions().await.unwrap(), 1);
    assert!(
        store
            .get_console_session(&token_hash(&old))
            .await
            .unwrap()
            .is_none()
    );
    engine.console_session(&fresh).await.unwrap();
    assert_eq!(engine.purge_console_sessions().await.unwrap(), 0);
}

#[test]
fn csrf_tokens_belong_to_their_session() {
    let (a, b) = ("a".repeat(43), "b".repeat(43));
    let t = csrf_token(&a);
    assert_eq!(t.len(), 43);
    assert_ne!(t, a);
    assert!(csrf_matches(&a, &t));
    assert!(!csrf_matches(&b, &t));
    assert!(!csrf_matches(&a, ""));
    assert!(!csrf_matches(&a, &t[..42]));
    assert_ne!(csrf_token(&b), t);
    assert_ne!(
        crate::console::new_form_token().unwrap(),
        crate::console::new_form_token().unwrap()
    );
}

#[test]
fn p95_is_the_nearest_rank() {
    assert_eq!(p95(&[]), None);
    assert_eq!(p95(&[7]), Some(7));
    assert_eq!(p95(&[1, 2]), Some(2));
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(p95(&hundred), Some(95));
    let twenty: Vec<u64> = (1..=20).collect();
    assert_eq!(p95(&twenty), Some(19));
    let twentyone: Vec<u64> = (1..=21).collect();
    assert_eq!(p95(&twentyone), Some(20));
}

#[tokio::test]
async fn the_overview_lists_every_hour_with_unflushed_counts() {
    let (engine, _, clock) = setup().await;
    let hour = |h: u32| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();

    // An empty database: every hour present, all zero, the current one last.
    let points = engine.console_activity(3).await.unwrap();
    assert_eq!(
        points.iter().map(|p| p.hour).collect::<Vec<_>>(),
        vec![hour(8), hour(9), hour(10)]
    );
    assert!(points.iter().all(|p| p.received == 0 && p.p95_ms.is_none()));
    assert_eq!(engine.console_activity(0).await.unwrap().len(), 1);

    engine.count_activity("it", Kind::WebhookReceived, "stored");
    engine.count_activity("it", Kind::WebhookReceived, "duplicate");
    engine.count_activity("it", Kind::WebhookRefused, "bad_signature");
    // Integrations not configured are not counted.
    engine.count_activity("nope", Kind::WebhookReceived, "stored");
    clock.advance(s(3600));
    engine.count_activity("it", Kind::RefreshFailed, "invalid_grant");
    engine.count_activity("it", Kind::WebhookReceived, "stored");

    // Not flushed yet: the overview flushes first.
    let points = engine.console_activity(3).await.unwrap();
    assert_eq!(
        points.iter().map(|p| p.hour).collect::<Vec<_>>(),
        vec![hour(9), hour(10), hour(11)]
    );
    let counts: Vec<_> = points
        .iter()
        .map(|p| (p.received, p.refused, p.refresh_failed, p.delivered))
        .collect();
    assert_eq!(counts, vec![(0, 0, 0, 0), (2, 1, 0, 0), (1, 0, 1, 0)]);
}
