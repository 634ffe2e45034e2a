//! `Engine::status`: each count and each threshold, on a manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use signatures::Headers;
use store::{DeliveryStore, Failure, IntegrationStateStore, StatusStore, Store};

use super::{key, memory_store, ring};
use crate::activity::Kind;
use crate::status::{IntegrationHealth, OLDEST_PENDING_MAX, REFRESH_FAILURES_24H_MAX, Status};
use crate::webhooks::{Incoming, Intake};
use crate::{Engine, ManualClock};

const SECRET: &str = "gh-webhook-secret-0123456789abcdef";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `gh` (GitHub webhooks, delivered to `app`), `quiet` (GitHub, no secret, no
/// destination) and `extra` as more TOML.
fn config(extra: &str) -> config::Config {
    let text = format!(
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{SECRET}\"]\n\n\
         [[integrations]]\nid = \"quiet\"\nprovider = \"github\"\n\n\
         [[destinations]]\nid = \"app\"\nurl = \"https://app.example/hooks\"\nsecret = \"{WHSEC}\"\n\
         integrations = [\"gh\"]\nevent_types = [\"*\"]\n\n{extra}"
    );
    config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

async fn engine(extra: &str) -> (Engine, store_sqlite::SqliteStore, ManualClock) {
    let store = memory_store().await;
    let clock =
        ManualClock::starting_at(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), config(extra))
        .with_clock(clock.clone());
    (engine, store, clock)
}

/// Sends a GitHub webhook to `gh`, signed with `secret`.
async fn post(engine: &Engine, delivery: &str, secret: &str) -> Option<Intake> {
    let body = format!(r#"{{"delivery":"{delivery}"}}"#).into_bytes();
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(&body);
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let h = Headers::new()
        .with("X-Hub-Signature-256", sig)
        .with("X-GitHub-Delivery", delivery)
        .with("X-GitHub-Event", "push");
    engine
        .intake(Incoming {
            integration: "gh",
            method: "POST",
            url: "https://sb.example/webhooks/gh/event",
            query: "",
            headers: &h,
            body: &body,
        })
        .await
        .ok()
}

fn of<'a>(s: &'a Status, id: &str) -> &'a IntegrationHealth {
    s.integrations.iter().find(|i| i.id == id).unwrap()
}

fn check<'a>(h: &'a IntegrationHealth, name: &str) -> &'a crate::status::ChecklistItem {
    h.checklist.iter().find(|c| c.check == name).unwrap()
}

#[tokio::test]
async fn a_fresh_deployment_is_ready_and_needs_nobody() {
    let (engine, _store, clock) = engine("").await;
    let s = engine.status().await.unwrap();
    assert!(s.ready.ready);
    assert_eq!(s.ready.backend, "sqlite");
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(s.generated_at, clock.now());
    assert!(!s.attention, "{:?}", s.reasons);
    assert_eq!(
        s.integrations
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        ["gh", "quiet"]
    );
    let gh = of(&s, "gh");
    assert_eq!(gh.webhooks.received_1h, 0);
    assert_eq!(gh.webhooks.last_received_at, None);
    assert_eq!(gh.deliveries.pending, 0);
    assert_eq!(gh.destinations.len(), 1);
    assert!(gh.destinations[0].enabled && !gh.destinations[0].breaker_open);
    assert_eq!(check(gh, "oauth_tested").state, "not_applicable");
    assert_eq!(check(gh, "webhook_secret").state, "ok");
    assert_eq!(check(gh, "webhook_verified").state, "missing");
    assert_eq!(check(gh, "destinations").state, "ok");
    assert_eq!(check(gh, "mappings").state, "missing");
    assert_eq!(check(gh, "security_findings").state, "ok");
    assert_eq!(gh.security_findings, 0);
    let quiet = of(&s, "quiet");
    assert_eq!(check(quiet, "webhook_secret").state, "missing");
    assert_eq!(check(quiet, "destinations").state, "not_applicable");
    assert!(quiet.destinations.is_empty());
    assert_eq!(
        s.thresholds.oldest_pending_max_secs,
        OLDEST_PENDING_MAX.as_secs()
    );
}

#[tokio::test]
async fn webhooks_received_and_refused_by_reason_in_the_last_hour() {
    let (engine, store, clock) = engine("").await;
    for i in 0..10 {
        assert!(matches!(
            post(&engine, &format!("d-{i}"), SECRET).await,
            Some(Intake::Stored { .. })
        ));
    }
    assert!(matches!(
        post(&engine, "d-0", SECRET).await,
        Some(Intake::Duplicate { .. })
    ));
    for i in 0..4 {
        assert!(post(&engine, &format!("bad-{i}"), "wrong").await.is_none());
    }
    // Counting wrote nothing yet: the counts are in memory until a flush.
    assert!(
        store
            .counter_sums(clock.now() - chrono::Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );

    let s = engine.status().await.unwrap();
    let gh = of(&s, "gh");
    assert_eq!(gh.webhooks.received_1h, 11, "stored and duplicate");
    assert_eq!(gh.webhooks.refused_1h, 4);
    assert_eq!(gh.webhooks.refused_by_reason.get("no_match"), Some(&4));
    assert_eq!(gh.webhooks.last_received_at, Some(clock.now()));
    assert!(!gh.webhooks.attention, "4 refused is below the minimum");
    assert_eq!(check(gh, "webhook_verified").state, "ok");

    // One more refusal: 5 of 16 is over 10 %.
    assert!(post(&engine, "bad-4", "wrong").await.is_none());
    let s = engine.status().await.unwrap();
    let gh = of(&s, "gh");
    assert!(gh.webhooks.attention);
    assert!(
        gh.webhooks
            .reason
            .as_deref()
            .unwrap()
            .contains("5 of 16 webhooks refused"),
        "{:?}",
        gh.webhooks.reason
    );
    assert!(s.attention);
    assert!(
        s.reasons.iter().any(|r| r.starts_with("gh: 5 of 16")),
        "{:?}",
        s.reasons
    );

    // Flushed once: one row per counter and bucket, however many requests.
    let sums = store
        .counter_sums(clock.now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(sums.len(), 3, "{sums:?}");

    // An hour (and a bucket) later, the window is empty again.
    clock.advance(Duration::from_secs(3600 + 61));
    let s = engine.status().await.unwrap();
    let gh = of(&s, "gh");
    assert_eq!((gh.webhooks.received_1h, gh.webhooks.refused_1h), (0, 0));
    assert!(!gh.webhooks.attention);
    assert!(
        gh.webhooks.last_received_at.is_some(),
        "the last one is kept"
    );
}

#[tokio::test]
async fn many_refusals_above_the_percentage_need_a_person_even_without_traffic() {
    let (engine, _store, _clock) = engine("").await;
    for i in 0..20 {
        assert!(post(&engine, &format!("bad-{i}"), "wrong").await.is_none());
    }
    let s = engine.status().await.unwrap();
    let gh = of(&s, "gh");
    assert_eq!(gh.webhooks.refused_1h, 20);
    assert!(
        gh.webhooks
            .reason
            .as_deref()
            .unwrap()
            .contains("100 %, mostly no_match")
    );
}

#[tokio::test]
async fn pending_deliveries_age_then_a_dead_one_needs_a_person() {
    let (engine, store, clock) = engine("").await;
    post(&engine, "d-1", SECRET).await.unwrap();
    let s = engine.status().await.unwrap();
    let gh = of(&s, "gh");
    assert_eq!(gh.deliveries.pending, 1);
    assert_eq!(gh.deliveries.oldest_pending_secs, Some(0));
    assert!(!gh.attention, "{:?}", gh.reasons);

    clock.advance(OLDEST_PENDING_MAX);
    let s = engine.status().await.unwrap();
    assert!(
        !of(&s, "gh").deliveries.attention,
        "at the threshold is fine"
    );
    clock.advance(Duration::from_secs(1));
    let s = engine.status().await.unwrap();
    let d = &of(&s, "gh").deliveries;
    assert_eq!(
        d.oldest_pending_secs,
        Some(OLDEST_PENDING_MAX.as_secs() + 1)
    );
    assert!(d.attention);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("oldest pending delivery")
    );

    let now = clock.now();
    let c = store
        .claim_deliveries("w", 10, now, now + chrono::Duration::minutes(1), &[])
        .await
        .unwrap();
    let f = Failure {
        retry_at: None,
        status: Some(500),
        error: "boom".into(),
    };
    assert!(store.fail_delivery(&c[0].id, c[0].fence, &f).await.unwrap());
    let s = engine.status().await.unwrap();
    let d = &of(&s, "gh").deliveries;
    assert_eq!((d.pending, d.dead, d.oldest_pending_secs), (0, 1, None));
    assert!(d.reason.as_deref().unwrap().contains("1 dead deliveries"));
    assert!(s.attention);
    assert!(!of(&s, "quiet").attention);
}

#[tokio::test]
async fn a_disabled_destination_or_an_open_breaker_needs_a_person() {
    let (engine, store, clock) = engine("").await;
    store
        .set_destination_disabled("app", true, Some("answered 410 Gone"), clock.now())
        .await
        .unwrap();
    let s = engine.status().await.unwrap();
    let d = &of(&s, "gh").destinations[0];
    assert!(!d.enabled && d.attention);
    assert!(d.reason.as_deref().unwrap().contains("answered 410 Gone"));
    store
        .set_destination_disabled("app", false, None, clock.now())
        .await
        .unwrap();

    // The breaker as this process's worker sees it.
    let opts = crate::pipeline::deliver::WorkerOptions::default();
    let mut gate = crate::pipeline::deliver::Gate::new(&opts, engine.membership().clone());
    for _ in 0..opts.breaker_threshold - 1 {
        gate.finish(
            "app",
            crate::pipeline::deliver::Outcome::Failed,
            clock.instant(),
        );
    }
    let gate = Arc::new(std::sync::Mutex::new(gate));
    *engine.inner.gate.0.lock().unwrap() = Some(gate.clone());
    let s = engine.status().await.unwrap();
    let d = &of(&s, "gh").destinations[0];
    assert!(d.enabled && !d.breaker_open && !d.attention);
    assert_eq!(d.breaker_failures, opts.breaker_threshold - 1);
    gate.lock().unwrap().finish(
        "app",
        crate::pipeline::deliver::Outcome::Failed,
        clock.instant(),
    );
    let s = engine.status().await.unwrap();
    let d = &of(&s, "gh").destinations[0];
    assert!(d.breaker_open && d.attention);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("this instance's view")
    );
    assert!(s.attention);
}

#[tokio::test]
async fn refresh_failures_and_needs_reauth_in_the_last_day() {
    let (engine, _store, clock) = engine("").await;
    for _ in 0..REFRESH_FAILURES_24H_MAX {
        engine.count_activity("gh", Kind::RefreshFailed, "provider_unavailable");
    }
    let s = engine.status().await.unwrap();
    let c = &of(&s, "gh").connections;
    assert_eq!(c.refresh_failures_24h, REFRESH_FAILURES_24H_MAX);
    assert!(!c.attention, "at the threshold is fine");
    engine.count_activity("gh", Kind::RefreshFailed, "invalid_client");
    let s = engine.status().await.unwrap();
    let c = &of(&s, "gh").connections;
    assert!(c.attention);
    assert!(
        c.reason
            .as_deref()
            .unwrap()
            .contains("token refresh failures")
    );

    // A day later they are gone; one needs_reauth is enough.
    clock.advance(Duration::from_secs(24 * 3600 + 61));
    engine.count_activity("gh", Kind::RefreshFailed, "invalid_grant");
    let s = engine.status().await.unwrap();
    let c = &of(&s, "gh").connections;
    assert_eq!((c.refresh_failures_24h, c.needs_reauth_24h), (1, 1));
    assert!(c.reason.as_deref().unwrap().contains("went needs_reauth"));
    // Integrations not configured are not counted.
    engine.count_activity("nope", Kind::RefreshFailed, "invalid_grant");
    engine.flush_activity().await.unwrap();
    assert!(
        engine
            .store()
            .counter_sums(clock.now() - chrono::Duration::hours(1))
            .await
            .unwrap()
            .iter()
            .all(|s| s.integration == "gh")
    );
}

#[tokio::test]
async fn checklist_items_need_a_person_only_for_a_live_integration() {
    // `hooks` receives webhooks but has no destination.
    let (engine, store, clock) = engine(
        "[[integrations]]\nid = \"hooks\"\nprovider = \"github\"\nwebhook_secrets = [\"s\"]\n",
    )
    .await;
    let s = engine.status().await.unwrap();
    let hooks = of(&s, "hooks");
    assert_eq!(check(hooks, "destinations").state, "missing");
    assert!(!hooks.attention, "no traffic yet");

    engine.count_activity("hooks", Kind::WebhookReceived, "stored");
    let s = engine.status().await.unwrap();
    let hooks = of(&s, "hooks");
    assert!(check(hooks, "destinations").attention);
    assert!(
        hooks
            .reasons
            .iter()
            .any(|r| r.contains("launch checklist: no [[destinations]]")),
        "{:?}",
        hooks.reasons
    );
    assert!(
        !check(hooks, "mappings").attention,
        "pass-through is a choice"
    );

    // A disabled integration is not live.
    store
        .set_integration_disabled("hooks", true, clock.now())
        .await
        .unwrap();
    let s = engine.status().await.unwrap();
    let hooks = of(&s, "hooks");
    assert!(hooks.disabled);
    assert!(!hooks.attention, "{:?}", hooks.reasons);
}

#[tokio::test]
async fn an_unreachable_database_is_not_ready() {
    let (engine, store, _clock) = engine("").await;
    store.close().await;
    let s = engine.status().await.unwrap();
    assert!(!s.ready.ready && s.ready.attention && s.attention);
    assert!(s.ready.error.is_some());
    assert!(s.integrations.is_empty());
    assert!(s.reasons[0].starts_with("not ready"));
}

#[tokio::test]
async fn counts_of_a_failed_flush_are_kept_for_the_next_one() {
    let (engine, store, _clock) = engine("").await;
    engine.count_activity("gh", Kind::WebhookRefused, "bad_signature");
    store.close().await;
    assert!(engine.flush_activity().await.is_err());
    assert_eq!(engine.inner.activity.pending_len(), 1);
}

#[tokio::test]
async fn security_findings_are_counted_and_high_ones_need_a_person() {
    // Outside --dev: a plain-http destination (SB-NET-001, high, about the deployment)
    // and a short webhook secret on `weak` (SB-WH-003, medium, about `weak`); `quiet`
    // takes GitHub webhooks without a secret (SB-WH-001, medium).
    let (engine, _store, _clock) = engine(
        "[[integrations]]\nid = \"weak\"\nprovider = \"github\"\nwebhook_secrets = [\"short\"]\n\n\
         [[destinations]]\nid = \"plain\"\nurl = \"http://hooks.example/in\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nintegrations = [\"weak\"]\n",
    )
    .await;
    let s = engine.status().await.unwrap();
    assert_eq!(s.security_findings, 3);
    assert_eq!(
        s.reasons,
        ["deployment: 1 high security finding(s): run `switchboard security audit`"]
    );
    assert!(s.attention);
    let weak = of(&s, "weak");
    assert_eq!(weak.security_findings, 1);
    let item = check(weak, "security_findings");
    assert_eq!(item.state, "missing");
    assert!(
        item.detail.contains("1 open security finding(s), 0 high"),
        "{}",
        item.detail
    );
    assert!(!item.required, "a medium finding alone needs nobody");
    assert_eq!(of(&s, "quiet").security_findings, 1);
    assert_eq!(of(&s, "gh").security_findings, 0);
    assert_eq!(check(of(&s, "gh"), "security_findings").state, "ok");

    // Live now, and still only medium findings about it: nobody is needed for `weak`.
    engine.count_activity("weak", Kind::WebhookReceived, "stored");
    let s = engine.status().await.unwrap();
    assert!(!check(of(&s, "weak"), "security_findings").attention);
    assert!(!of(&s, "weak").attention, "{:?}", of(&s, "weak").reasons);
}
