//! The console's views of the pipeline: payloads redacted for display, dead deliveries
//! of a destination page by page, a replay's progress, and integrations with their
//! webhook URL.

use std::collections::BTreeMap;

use store::{DeliveryStatus, DeliveryStore, EventStore, Failure, ReplayFilter, ReplayStatus, now};

use super::pipeline::{engine_with, stripe_event};
use crate::pipeline::redact::{REDACTED, Shown};
use crate::{Actor, EngineError};

fn config(extra_integration: &str) -> config::Config {
    let text = format!(
        "public_url = \"https://hooks.example/\"\n\
         [[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\nwebhook_secrets = [\"whsec_x\"]\n{extra_integration}\n\
         [[integrations]]\nid = \"gh\"\nprovider = \"github\"\n\
         [[destinations]]\nid = \"app\"\nurl = \"http://127.0.0.1:9/hooks\"\nsecret = \"env:APP_SECRET\"\n\
         [[destinations]]\nid = \"other\"\nurl = \"http://127.0.0.1:9/other\"\nsecret = \"env:APP_SECRET\"\nintegrations = [\"gh\"]\n"
    );
    let env = BTreeMap::from([("APP_SECRET".to_owned(), super::pipeline::WHSEC.to_owned())]);
    config::Config::from_toml(&text, "t.toml", &env, &Default::default()).unwrap()
}

/// Kills every due delivery (as a destination that always fails would).
async fn kill_all(store: &store_sqlite::SqliteStore) {
    let t = now();
    for c in store
        .claim_deliveries("w", 100, t, t + chrono::Duration::seconds(60), &[])
        .await
        .unwrap()
    {
        let f = Failure {
            retry_at: None,
            status: Some(500),
            error: "HTTP 500".into(),
        };
        assert!(store.fail_delivery(&c.id, c.fence, &f).await.unwrap());
    }
}

#[tokio::test]
async fn payloads_are_shown_without_secrets_or_configured_fields() {
    let (engine, store) = engine_with(config("redact_fields = [\"/data/object/customer\"]")).await;
    let mut e = stripe_event(1, 5);
    let mut body: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
    body["data"]["object"]["client_secret"] = "pi_secret_SECRET".into();
    e.body = body.to_string().into_bytes();
    e.headers = vec![("stripe-signature".into(), "t=1,v1=SECRET".into())];
    store.insert_event(&e).await.unwrap();
    engine.route_pending().await.unwrap();
    let d = engine.event_display(&e.id).await.unwrap();
    assert!(d.detail.event.body.is_empty() && d.detail.event.headers.is_empty());
    let Shown::Json { text, .. } = &d.payload else {
        panic!("{:?}", d.payload)
    };
    assert!(
        !text.contains("SECRET") && !text.contains("cus_1"),
        "{text}"
    );
    assert!(text.contains(REDACTED) && text.contains("pi_1"), "{text}");
    // The mapped data (passed through: the same object) is redacted the same way, and
    // its text is not left in the detail.
    let Some(Shown::Json { text, .. }) = &d.mapped else {
        panic!("{:?}", d.mapped)
    };
    assert!(
        !text.contains("SECRET") && !text.contains("cus_1"),
        "{text}"
    );
    match &d.detail.routing.mapped {
        Some(store::Mapped::Mapped { data, .. }) => assert!(data.is_empty()),
        other => panic!("{other:?}"),
    }
    // Bad ids.
    assert!(matches!(
        engine.event_display("nope").await,
        Err(EngineError::Invalid { .. })
    ));
    assert!(matches!(
        engine.event_display(&format!("evt_{:032x}", 9)).await,
        Err(EngineError::NotFound { .. })
    ));
}

#[tokio::test]
async fn dead_deliveries_page_and_a_replay_reports_its_progress() {
    let (engine, store) = engine_with(config("")).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let e = stripe_event(n, 5);
        ids.push(e.id.clone());
        store.insert_event(&e).await.unwrap();
    }
    engine.route_pending().await.unwrap();
    kill_all(&store).await;
    let (page, next) = engine.dead_deliveries("app", None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|d| d.status == DeliveryStatus::Dead));
    let (rest, end) = engine
        .dead_deliveries("app", next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!((rest.len(), end), (1, None));
    assert!(
        engine
            .dead_deliveries("other", None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(matches!(
        engine.dead_deliveries("nope", None, 10).await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(matches!(
        engine.dead_deliveries("app", Some("evt_x"), 10).await,
        Err(EngineError::Invalid {
            field: "cursor",
            ..
        })
    ));

    // One event's delivery to app, then the rest by filter.
    let (c, at) = engine
        .replay_event_at(&ids[0], Some("app"), false, &Actor::System)
        .await
        .unwrap();
    assert_eq!((c.events, c.deliveries), (1, 1));
    let one = ReplayFilter {
        event_id: Some(ids[0].clone()),
        destination: Some("app".into()),
        ..Default::default()
    };
    let p = engine.replay_progress(&one, at).await.unwrap();
    assert_eq!((p.pending, p.delivered, p.dead), (1, 0, 0));
    assert!(matches!(
        engine
            .replay_event_at(&ids[0], Some("nope"), false, &Actor::System)
            .await,
        Err(EngineError::Invalid {
            field: "destination",
            ..
        })
    ));
    // The next replay is in a later millisecond (a replay's progress counts what was
    // requeued from its own time on).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let dead = ReplayFilter {
        integration: Some("stripe-main".into()),
        status: Some(ReplayStatus::Dead),
        ..Default::default()
    };
    let (dry, _) = engine
        .replay_checked_at(&dead, false, true, &Actor::System)
        .await
        .unwrap();
    assert_eq!(dry.deliveries, 2);
    let (c, at) = engine
        .replay_checked_at(&dead, false, false, &Actor::System)
        .await
        .unwrap();
    assert_eq!(c.deliveries, 2);
    engine.route_pending().await.unwrap();
    let p = engine.replay_progress(&dead, at).await.unwrap();
    assert_eq!(p.pending + p.in_flight, 2, "{p:?}");
    // Delivered by a worker (here: claimed and completed).
    let t = now();
    for c in store
        .claim_deliveries("w", 100, t, t + chrono::Duration::seconds(60), &[])
        .await
        .unwrap()
    {
        store
            .complete_delivery(&c.id, c.fence, 200, t)
            .await
            .unwrap();
    }
    let p = engine.replay_progress(&dead, at).await.unwrap();
    assert_eq!((p.pending, p.delivered), (0, 2), "{p:?}");
    // A filter naming something unknown is refused.
    let bad = ReplayFilter {
        integration: Some("nope".into()),
        ..Default::default()
    };
    assert!(matches!(
        engine.replay_progress(&bad, at).await,
        Err(EngineError::Invalid {
            field: "integration",
            ..
        })
    ));
}

#[tokio::test]
async fn integrations_are_listed_with_auth_mode_webhook_url_and_switches() {
    let (engine, _store) = engine_with(config("")).await;
    engine
        .set_webhooks_blocked("stripe-main", true, &Actor::System)
        .await
        .unwrap();
    let list = engine.integration_overview().await.unwrap();
    assert_eq!(list.len(), 2);
    let s = &list[0];
    assert_eq!(
        (s.id.as_str(), s.provider.as_str(), s.webhook_url.as_str()),
        (
            "stripe-main",
            "stripe",
            "https://hooks.example/webhooks/stripe-main/event"
        )
    );
    assert!(s.webhooks_blocked && !s.disabled && s.accepts_webhooks);
    assert_eq!(s.connections["active"], 0);
    let g = &list[1];
    assert_eq!(g.auth_mode, "oauth2");
    assert!(!g.accepts_webhooks && !g.webhooks_blocked);
}
